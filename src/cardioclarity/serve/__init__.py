"""REST backend (FastAPI) and web page over the ECG and chest X-ray pipelines.

Public names (imported on first use, so ``import cardioclarity.serve`` stays cheap):
:func:`create_app` and :class:`Settings`. Layout: ``app`` builds the application from
``routes/`` (one router per area, reaching shared state through the dependencies in ``deps``),
``services`` (the pipelines, loaded once), ``uploads`` (body -> named files), ``limits`` and
``edge`` (middleware), ``problems`` (errors as problem+json) and ``docs`` (the offline API page).
"""

from cardioclarity._lazy import lazy_exports

__all__ = ["Settings", "create_app"]

__getattr__, __dir__ = lazy_exports(__name__, {"create_app": "cardioclarity.serve.app",
                                               "Settings": "cardioclarity.serve.settings"})
