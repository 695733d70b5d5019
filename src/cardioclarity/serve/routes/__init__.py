"""The routers, one per area: health and models, ECG, chest X-ray, and the web pages."""

from cardioclarity.serve.routes import ecg, health, pages, xray

__all__ = ["ROUTERS"]

#: Included by :func:`~cardioclarity.serve.app.create_app`, in this order.
ROUTERS = (health.router, ecg.router, xray.router, pages.router)
