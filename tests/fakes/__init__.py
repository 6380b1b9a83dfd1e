"""Fakes of outside services, shared by tests and benchmarks."""
