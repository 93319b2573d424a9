"""Sign-up, login, sessions, passwords, PIN, 2FA and recovery."""
from flask import Blueprint, Flask

bp = Blueprint("auth", __name__, url_prefix="/auth")


def init_app(app: Flask) -> None:
    from portal.auth import gate, security_views, sessions, views  # noqa: F401  (registers routes)
    from portal.extensions import login_manager
    from portal.types import utcnow

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # our own server-side session rows do this job

    @login_manager.user_loader
    def _load(token: str):
        return sessions.load(token, now=utcnow())

    @login_manager.unauthorized_handler
    def _unauthorized():
        from flask import abort

        abort(401)

    # Runs after the portal's own login check (web.init_app registered it first): a session
    # still owing its second factor reaches only the two-factor pages.
    app.before_request(gate.check)
    app.register_blueprint(bp)
