"""The rating study's web app (Starlette, Jinja2 templates, plain HTML and a few lines of JavaScript).

    GET  /r/<token>        a rater's personal link: starts a browser session (an HttpOnly cookie) -> /rate
    GET  /rate             the rater's current face (where they left off), or the thank-you page when done
    POST /answer           one answer (expression, real or generated with a confidence), committed -> /rate
    GET  /image/<blind id> an image of the rater's own faces, by blind id, looked up in the study's table
    GET  /static/<name>    the app's own CSS and JavaScript (no study data)

Every page and image needs the session that a valid link starts; forms carry the session's token against
cross-site posts (and a foreign Origin is refused); an error is a short page with its status, never a traceback
or a file path. The database work runs in worker threads (fer/study/db.py: one connection per thread).
"""

from __future__ import annotations

import hmac
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from fer.study.db import EXPRESSIONS, JUDGEMENTS, AnswerRefused, Session, Study

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = {"study.css": "text/css", "study.js": "text/javascript"}
COOKIE = "fer_study_session"
MAX_FORM_BYTES = 2048
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
BLIND_RE = re.compile(r"^[0-9a-f]{16}$")
FIELDS = ("csrf", "position", "item", "expression", "judgement", "elapsed_ms")
OPTIONAL = {"elapsed_ms"}
LABELS = {"cant_tell": "can't tell"}
HEADERS = {
    "content-security-policy": "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Adds HEADERS to every response (a plain ASGI middleware: no per-request task overhead)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(study_dir: str | Path) -> Starlette:
    """The web app of one study folder (checked: a folder that is not a study is a `StudyError`)."""
    study = Study.open(study_dir)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True

    def page(request: Request, name: str, status: int = 200, **context) -> Response:
        return templates.TemplateResponse(request, name, {"title": "Face rating study", **context}, status_code=status)

    def fail(status: int, message: str) -> HTTPException:
        return HTTPException(status_code=status, detail=message)

    async def session_of(request: Request) -> Session:
        sid = request.cookies.get(COOKIE, "")
        session = await run_in_threadpool(study.session, sid) if TOKEN_RE.match(sid) else None
        if session is None:
            raise fail(401, "This page needs your personal study link: open the link you were given.")
        return session

    async def index(request: Request) -> Response:
        await session_of(request)
        return RedirectResponse("/rate", status_code=303)

    async def enter(request: Request) -> Response:
        token = request.path_params["token"]
        rater = await run_in_threadpool(study.rater_by_token, token) if TOKEN_RE.match(token) else None
        if rater is None:
            raise fail(403, "This link is not valid for this study: check it, or ask for a new one.")
        sid = request.cookies.get(COOKIE, "")
        current = await run_in_threadpool(study.session, sid) if TOKEN_RE.match(sid) else None
        response = RedirectResponse("/rate", status_code=303)
        if current is None or current.rater != rater:
            sid, _ = await run_in_threadpool(study.new_session, rater)
            response.set_cookie(COOKIE, sid, max_age=90 * 24 * 3600, httponly=True, samesite="lax", path="/")
        return response

    async def rate(request: Request) -> Response:
        session = await session_of(request)

        def state():
            return study.progress(session.rater), study.current(session.rater)

        (done, total), current = await run_in_threadpool(state)
        if current is None:
            return page(request, "done.html", total=total)
        position, item = current
        return page(
            request,
            "rate.html",
            csrf=session.csrf,
            position=position,
            item=item,
            done=done,
            total=total,
            percent=round(100 * done / total) if total else 100,
            expressions=[(e, LABELS.get(e, e)) for e in EXPRESSIONS],
            keys={e: str(i + 1) for i, e in enumerate(EXPRESSIONS)},
            judgements=[
                ("real-sure", "surely real", "a"),
                ("real-unsure", "probably real", "s"),
                ("generated-unsure", "probably generated", "d"),
                ("generated-sure", "surely generated", "f"),
            ],
        )

    async def answer(request: Request) -> Response:
        session = await session_of(request)
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            raise fail(403, "Answers are only taken from the study's own page.")
        form = await read_form(request)
        if not hmac.compare_digest(form["csrf"], session.csrf):
            raise fail(403, "This form has expired: reload the page and answer again.")
        try:
            position = int(form["position"])
        except ValueError:
            raise fail(400, "Malformed answer: the position is not a number.") from None
        if not BLIND_RE.match(form["item"]):
            raise fail(400, "Malformed answer: unknown face.")
        if form["expression"] not in EXPRESSIONS:
            raise fail(400, "Unknown expression: choose one of the listed ones.")
        if form["judgement"] not in JUDGEMENTS:
            raise fail(400, "Unknown answer to 'real or generated': choose one of the four.")
        judged, confidence = JUDGEMENTS[form["judgement"]]
        ms = form.get("elapsed_ms") or ""
        ms = min(int(ms), 86_400_000) if ms.isdigit() and len(ms) < 12 else None
        try:
            await run_in_threadpool(
                study.record, session.rater, position, form["item"], form["expression"], judged, confidence, ms
            )
        except AnswerRefused as e:
            raise fail(e.status, e.message) from None
        return RedirectResponse("/rate", status_code=303)

    async def image(request: Request) -> Response:
        session = await session_of(request)
        blind = request.path_params["item"]
        path = await run_in_threadpool(study.image_path, session.rater, blind) if BLIND_RE.match(blind) else None
        if path is None or not path.is_file():
            raise fail(404, "No such face.")
        return FileResponse(path, media_type="image/png", headers={"cache-control": "private, max-age=86400"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            raise fail(404, "Not found.")
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"cache-control": "max-age=3600"})

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "Not found."
        if exc.status_code == 405:
            message = "This address does not take that kind of request."
        return page(request, "error.html", status=exc.status_code, status_code=exc.status_code, message=message)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("study server error on %s %s", request.method, request.url.path, exc_info=exc)
        message = "Something went wrong on the server. Your earlier answers are saved: reload the page to go on."
        return page(request, "error.html", status=500, status_code=500, message=message)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/r/{token}", enter),
            Route("/rate", rate),
            Route("/answer", answer, methods=["POST"]),
            Route("/image/{item}", image),
            Route("/static/{name}", static),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.add_middleware(SecurityHeaders)
    app.state.study = study
    return app


async def read_form(request: Request) -> dict[str, str]:
    """The answer form (urlencoded, at most MAX_FORM_BYTES, each field once, nothing else); 400/413/415 otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "Answers are sent as a form from the study's page.")
    length = request.headers.get("content-length", "")
    if length and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise HTTPException(413, "The form is too large.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "The form is too large.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "Malformed form.") from None
    unknown = set(fields) - set(FIELDS)
    missing = set(FIELDS) - OPTIONAL - set(fields)
    if unknown or missing or any(len(v) != 1 for v in fields.values()):
        raise HTTPException(400, "Malformed answer: answer both questions and send the page's form.")
    return {k: v[0] for k, v in fields.items()}
