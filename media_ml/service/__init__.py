"""The HTTP service and the editor's page (``media-ml serve``).

``create_app(ServiceConfig(library=...))`` builds the FastAPI app; ``serve`` runs it with uvicorn.
The app is thin: it validates requests, calls ``Library`` and shapes JSON like the CLI's
``--json``; resources are addressed by id, never by path.
"""

from media_ml.service.app import ServiceConfig, create_app, serve

__all__ = ["ServiceConfig", "create_app", "serve"]
