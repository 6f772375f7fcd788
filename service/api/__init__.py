"""FastAPI app: predict, designs, jobs, models, the Open Inference Protocol, health and a web page."""
