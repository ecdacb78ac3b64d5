"""Live metrics: Prometheus (`/metrics`) and OTLP pushes."""
