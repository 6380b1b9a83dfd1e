FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build WHATSAPP_APP_SECRET=build WHATSAPP_VERIFY_TOKEN=build CONSENT_LOG_KEY=build \
    python manage.py collectstatic --noinput
USER nobody
EXPOSE 8000
# Behind the reverse proxy (deploy/nginx.conf); docker-compose.yml also names the proxy's address
# in --forwarded-allow-ips (gunicorn's default believes only 127.0.0.1).
CMD ["gunicorn", "comune.asgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "asgi", \
     "--timeout", "30", "--graceful-timeout", "30", "--keep-alive", "5"]
