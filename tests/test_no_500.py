"""No route answers 500, whatever is typed: one property test over every route of both apps.

Issue 17 part 6: every 500 the probe found answers 4xx now, each with its own test
(``test_bad_input.py``). This one throws random values (and the values that broke pages
before: ``²``, ``9223372036854775808``, ``0001-01-01T00:00``, 5,000 characters, NUL...) at
every form field and JSON key of every route, enumerated from ``app.url_map`` of the
gateway's page and the hub, logged in as an admin with the CSRF token, and expects no 500.

The fields of a route are the names its module reads (``form.get("x")``, ``getlist``,
``payload.get``, ``args``...) and the ``name="..."`` of the templates it renders, so a page
added later is covered as soon as it is registered. The apps run with ``testing`` on: an
exception that would be a 500 fails the test with its traceback. A route that logs the admin
out, or takes their role away, is followed by a fresh login.
"""

from __future__ import annotations

import functools
import inspect
import io
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ON_PAPER, RecordingSimulator, csrf_token_from, make_services
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway import tips
from gateway.broadcasts import control, subscribers
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb, write_transaction

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = (ROOT / "gateway" / "web" / "templates", ROOT / "gateway" / "hub" / "templates")
PASSWORD = "mat-khau-thu-123"
HUB_TOKEN = "token-cl"  # HubServer's token of gateway cl

# What broke pages before, and what a page may special-case.
NASTY = ["", " ", "cl", "0", "1", "2", "3", "-1", "²", "٣", "１", "9223372036854775807", "9223372036854775808",
         "99999999999999999999", "1e999", "NaN", "inf", "0.5", "0001-01-01", "0001-01-01T00:00",
         "9999-12-31", "9999-12-31T23:59", "2026-12-01", "2026-12-01T08:00", "29/02/2026", "25:99", "08:00",
         "x" * 5000, "\x00", "<script>alert(1)</script>", "../../etc/passwd", "//evil.example", "0912345678",
         "+84912345678", "113", "CL-0001", "cl-1", "i1", "o1", "vi", "en", "1.3", "true", "false", "null",
         "new", "all", "admin", "officer", "viewer", "send", "preview", "save", "leave", "invite", "paper",
         "now", "once", "weekly", "monthly", "new", "handling", "closed", "village", "label", "khong_dau",
         "accented", "zalo", "district", "ＨＵＹ", "S\u200bTOP", "Thôn Na Hối", "DK", "MENU", "TIN có trộm"]
_NAME_IN_CODE = re.compile(
    r"""(?:\.get(?:list)?|_arg|int_arg\([^,()]+,)\(?\s*["']([A-Za-z_][\w.\-]*)["']"""
    r"""|(?:form|args|values|files|payload|body|item)\[\s*["']([A-Za-z_][\w.\-]*)["']\s*\]""")
_NAME_IN_TEMPLATE = re.compile(r"""\bname=["']([A-Za-z_][\w.\-]*)["']""")
_TEMPLATE_USED = re.compile(r"""render_template\(\s*["']([\w/.\-]+)["']""")


_NAMES_LOOPED = re.compile(r"""\bfor \w+ in \(([^()]*)\)""")  # item.get(k) for k in ("uid", "reference")
_QUOTED = re.compile(r"""["']([A-Za-z_][\w.\-]*)["']""")


def _names_in(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        return set(_NAME_IN_TEMPLATE.findall(text))
    return _names_in_source(text)


def _names_in_source(text: str) -> set[str]:
    names = {group for match in _NAME_IN_CODE.finditer(text) for group in match.groups() if group}
    return names | {name for loop in _NAMES_LOOPED.findall(text) for name in _QUOTED.findall(loop)}


@functools.cache
def fields_of(view: Any, extra: tuple[Path, ...] = ()) -> list[str]:
    """The form fields and JSON keys a view's module reads, and those of the templates it renders
    (the whole folder of each: a page's includes and macros too)."""
    module = Path(sys.modules[view.__module__].__file__)  # the view's own (a decorator's wrapper keeps it)
    names = _names_in(module)
    for template in _TEMPLATE_USED.findall(module.read_text(encoding="utf-8")):
        folder = Path(template).parent
        for root in TEMPLATES:
            for path in (root / folder).glob("*.html") if (root / folder).is_dir() else ():
                names |= _names_in(path)
    for path in extra:
        names |= _names_in(path)
    return sorted(names - {"csrf_token"})  # the token is supplied (a random one is a 400 by design)


@dataclass
class Site:
    """One app, an admin's browser on it, and what each of its routes reads."""

    name: str
    app: Any
    db_path: Path
    login_path: str = "/login"
    # (rule, method, endpoint, every name its module and templates read, the names its view reads itself)
    routes: list[tuple[str, str, str, list[str], list[str]]] = field(default_factory=list)
    reads_json: set[str] = field(default_factory=set)  # endpoints whose module reads a JSON body
    client: Any = None
    user_id: int | None = None

    def log_in(self) -> None:
        """The admin's browser: through the login form the first time, then (after a route logged
        it out) a session made directly, so a pass costs no password hash."""
        from gateway.accounts import users
        from gateway.storage import open_db

        db = open_db(self.db_path)  # the file as it is (a hub's has no gateway tables)
        try:
            if self.user_id is None:
                self.user_id = users.create_user(db, f"{self.name}admin", PASSWORD, "admin", by="test").id
                self.client = self.app.test_client()
                token = csrf_token_from(self.client.get(self.login_path).get_data(as_text=True))
                response = self.client.post(self.login_path, data={"username": f"{self.name}admin",
                                                                   "password": PASSWORD, "csrf_token": token})
                assert response.status_code == 303, response.status_code
            else:
                db.execute("UPDATE users SET active = 1, role = 'admin' WHERE id = ?", [self.user_id])
                user = users.get(db, self.user_id)
                self.client = self.app.test_client()
                with self.client.session_transaction() as session:
                    now = datetime.now(UTC).timestamp()
                    session.update({"_user_id": user.get_id(), "_fresh": True, "login_at": now, "seen_at": now})
        finally:
            db.close()
        home = self.client.get("/").get_data(as_text=True)
        self.client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token_from(home)

    def collect(self, extra: dict[str, tuple[Path, ...]]) -> None:
        for rule in sorted(self.app.url_map.iter_rules(), key=lambda r: r.rule):
            if rule.endpoint == "static":
                continue
            view = self.app.view_functions[rule.endpoint]
            names = fields_of(view, extra.get(rule.endpoint.split(".")[0], ()))
            own = sorted(set(_names_in_source(inspect.getsource(inspect.unwrap(view)))) - {"csrf_token"})
            if re.search(r"get_json|is_json", Path(sys.modules[view.__module__].__file__).read_text(encoding="utf-8")):
                self.reads_json.add(rule.endpoint)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                self.routes.append((rule.rule, method, rule.endpoint, names, own))
        self.routes.sort(key=lambda route: route[2] == "auth.logout")  # logging out last: one login each pass


def _seed_gateway(path: Path) -> None:
    dbs = ThreadLocalDb(path)
    db = dbs.get()
    try:
        with write_transaction(db):
            tips.create(db, gateway_id="cl", tipster="+84912000001", text="Có trộm bò ở thôn 2", inbox_id=None,
                        now=NOW)
            subscribers.save_member(db, subscribers.Member("+84912000002", name="Lò Văn A", village="Na Hối"),
                                    source="officer", now=NOW, basis=ON_PAPER)
            subscribers.save_member(db, subscribers.Member("+84912000003"), source="import", now=NOW)
            subscribers.subscribe_by_sms(db, "+84912000004", "Bản Mới", NOW, raw_text="DK Bản Mới")
            control.create(db, control.Draft("Cảnh báo", "Không bấm link lạ.", everyone=True), by="an", now=NOW,
                           tz=load_config(env={}).timezone)
    finally:
        dbs.close_all()


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    from fake_zalo import HubServer

    from gateway.hub import store
    from gateway.web import create_app

    folder = tmp_path_factory.mktemp("no500")
    gateway_db = folder / "tinbao.db"
    prepare_gateway(gateway_db)
    _seed_gateway(gateway_db)
    storage = ThreadLocalDb(gateway_db)
    config = load_config(env={"TINBAO_STORAGE_PATH": str(gateway_db)})
    app = create_app(config, make_services(gateway_db, config=config, db=storage, simulator=RecordingSimulator()))
    app.testing = True
    gateway = Site("gw", app, gateway_db)

    hub_server = HubServer(folder / "hub")
    hub_server.app.testing = True
    store.store_batch(hub_server.dbs.get(), "cl", [{"uid": "cl-1", "reference": "CL-0001", "text": "Có trộm",
                                                    "received_at": "2026-11-29T01:00:00+00:00"}],
                      source="online", now=NOW)
    hub = Site("hub", hub_server.app, hub_server.path)

    hub_store = (ROOT / "gateway" / "hub" / "store.py",)
    for site, extra in ((gateway, {}), (hub, {"hub_api": hub_store})):
        site.collect(extra)
        site.log_in()
    yield gateway, hub
    hub_server.close()
    storage.close_all()


def test_every_route_of_both_apps_is_enumerated_with_its_fields(sites):
    gateway, hub = sites
    endpoints = {endpoint: names for _, _, endpoint, names, _ in gateway.routes + hub.routes}
    own = {endpoint: names for _, _, endpoint, _, names in gateway.routes + hub.routes}
    assert {"name", "village"} <= set(own["broadcasts.assign_village"])
    assert len(gateway.routes) > 60 and len(hub.routes) > 12
    assert {"run_at", "title", "body", "schedule"} <= set(endpoints["broadcasts.create"])
    assert {"name", "village"} <= set(endpoints["broadcasts.assign_village"])
    assert {"number", "text"} <= set(endpoints["simulator.send"])
    assert {"gateway_id", "tips", "uid", "reference", "received_at", "text"} <= set(endpoints["hub_api.receive_tips"])


# What each example leans on: one of these goes into about half the fields of every route.
THEMES = ["²", "9223372036854775808", "0001-01-01T00:00", "", "x" * 5000, "\x00", "-1", "0"]
SEGMENT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), min_size=1,
                  max_size=12)  # one part of a URL path
VALUE = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.integers(-2**70, 2**70).map(str))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                      st.sampled_from(NASTY), st.text(max_size=30))


def _json_of(names: list[str]) -> st.SearchStrategy:
    keys = st.sampled_from(names or ["x"])
    return st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


@st.composite
def request_for(draw, route: tuple[str, str, str, list[str], list[str]], site: Site) -> dict[str, Any]:
    rule, method, _, names, own = route

    def part(match: re.Match) -> str:
        if match.group(1) == "int":
            return str(draw(st.one_of(st.integers(0, 5), st.integers(0, 2**63 - 1))))
        return draw(st.one_of(st.sampled_from(["CL-0001", "cl-1", "i1", "o1", "vi", "en", "new", "x"]), SEGMENT))

    path = re.sub(r"<(?:(\w+):)?(\w+)>", part, rule)
    # What the view reads itself, nearly always; some of the rest of its module's and templates' names.
    chosen = [name for name in own if draw(st.integers(0, 9)) > 0]
    chosen += draw(st.lists(st.sampled_from(names), max_size=6, unique=True)) if names else []
    theme = draw(st.sampled_from(THEMES))
    values = {name: theme if draw(st.booleans()) else draw(VALUE) for name in chosen}
    kind = "query" if method == "GET" else "form"
    if method != "GET" and route[2] in site.reads_json:
        kind = draw(st.sampled_from(["form", "json"]))
    if kind == "json":
        body = draw(st.dictionaries(st.sampled_from(names or ["x"]), _json_of(names), max_size=6))
        if route[2].startswith("hub_api."):  # past the door: the token's own gateway, a list of items
            items = st.dictionaries(st.sampled_from(names), st.one_of(JSON_LEAF, _json_of(names)), max_size=8)
            body.update(gateway_id="cl", **{key: draw(st.lists(items, max_size=4)) for key in ("tips", "changes")})
        return {"method": method, "path": path, "json": body}
    if kind == "form" and "file" in values:
        values["file"] = (io.BytesIO(draw(st.binary(max_size=200))), "ds.csv")
    return {"method": method, "path": path, kind: values}


def _send(site: Site, request: dict[str, Any]):
    headers = {"Authorization": f"Bearer {HUB_TOKEN}"} if site.name == "hub" and "/api/" in request["path"] else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if "query" in request:
        kwargs["query_string"] = request["query"]
    if "form" in request:
        kwargs["data"] = request["form"]
    if "json" in request:
        kwargs["json"] = request["json"]
    return site.client.open(request["path"], method=request["method"], **kwargs)


# No shrinking: the failing request is in the assertion's message already, and shrinking a pass
# over a hundred routes takes minutes.
@settings(max_examples=10, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_route_answers_500(sites, data):
    for site in sites:
        for route in site.routes:
            request = data.draw(request_for(route, site), label=f"{site.name} {route[1]} {route[0]}")
            response = _send(site, request)
            # /healthz answers 503 by design while the modem is not connected; anywhere else a 503 is
            # a database error (an IntegrityError is one: a disguised 500).
            allowed = 504 if route[2].endswith("healthz") else 500
            assert response.status_code < allowed, (site.name, request, response.status_code,
                                                    response.get_data(as_text=True)[:300])
            location = response.headers.get("Location", "")
            if response.status_code in (401, 403) or site.login_path in location.split("?")[0]:
                site.log_in()  # logged out, or the admin's own role changed: go on as a fresh admin


