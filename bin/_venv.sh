# Sourced by bin/run and bin/test: make .venv exist and hold the given requirements.
# Reinstalls only when a requirements file changed since the last install; the test tools'
# install also satisfies bin/run.
_requirements="$1"
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv …"
  "${PYTHON:-python3}" -m venv .venv
fi
_hash=$(cat requirements*.txt | sha256sum | cut -c1-16)
_installed() { [ "$(cat ".venv/.installed-$1" 2>/dev/null)" = "$_hash" ]; }
if ! _installed "$_requirements" && ! _installed requirements-dev.txt; then
  echo "Installing $_requirements …"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$_requirements"
  echo "$_hash" > ".venv/.installed-$_requirements"
fi
export PATH="$PWD/.venv/bin:$PATH"
