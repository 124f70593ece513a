"""Issue 9: what a provider says stays readable, its echo of a secret does not (W6, and
"Secrets echoed back by a provider").

- W6: the sandbox's ``refused`` secret must not turn "Telit refused the login" into
  "Telit *** the login"; ``-v`` shows emnify's ``error_token`` (the name of an error, not a
  token). A secret is masked where it is carried (credential headers, fields, elements)
  whatever it is, and elsewhere only when it cannot be an ordinary word.
- The redactor's rules as units: secret names, the encoded forms smscli sends (Basic,
  JSON, XML, URL), credentials quoted inside a provider's text, values cut short by "…",
  the history storing only scrubbed errors.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from smscli.errors import ProviderRefused
from smscli.history import History
from smscli.models import SendResult, Status, StatusReport
from smscli.redaction import MASK, Redactor, distinctive, is_secret_name
from tests.conftest import Cli, base_url

# --------------------------------------------------------------------------- W6, CLI

REFUSED = {  # the sandbox refuses a login whose secret is "refused"
    "telit": (["--username", "ops", "--password", "refused"], "imei:490154203237518", "Telit"),
    "csl": (
        ["--username", "api", "--password", "refused", "--api-id", "1"],
        "iccid:8988303000006734768",
        "CSL SIM Insight (XML)",
    ),
    "thingspace": (
        [
            "--client-id",
            "key",
            "--client-secret",
            "refused",
            "--username",
            "uws",
            "--password",
            "pw-1",
            "--account-name",
            "0000123456-00001",
        ],
        "mdn:5555550100",
        "ThingSpace",
    ),
    "emnify": (["--application-token", "refused"], "endpoint:1001", "emnify"),
    "fonedynamics": (
        ["--account-sid", "AC1", "--token", "refused", "--property-sid", "PR1"],
        "+61488023555",
        "Fone Dynamics",
    ),
}


@pytest.mark.parametrize("slug", list(REFUSED))
def test_a_refused_secret_leaves_the_word_refused_readable(cli: Cli, slug: str) -> None:
    flags, target, label = REFUSED[slug]
    args = [slug, "--base-url", base_url(slug), *flags, "-t", target, "hi"]
    human = cli(*args)
    assert human.exit_code == 5, human.output
    assert f"{label} refused the login" in human.stderr
    assert f"{label} {MASK}" not in human.stderr
    doc = cli(*args, "--json").json()
    assert doc["error"]["message"].startswith(f"{label} refused the login")
    log = cli("log", "--json").json()["entries"]
    assert all(e["error"]["message"].startswith(f"{label} refused") for e in log)


@pytest.mark.parametrize("slug", ["telit", "emnify"])
def test_a_refused_secret_is_still_masked_where_it_is_carried(cli: Cli, slug: str) -> None:
    """-v: the request body carries the secret in its credential field: masked there."""
    flags, target, _ = REFUSED[slug]
    trace = cli(slug, "--base-url", base_url(slug), *flags, "-t", target, "-v", "hi").stderr
    field = "password" if slug == "telit" else "application_token"
    assert f'"{field}": "{MASK}"' in trace
    assert '"refused"' not in trace


def test_verbose_shows_emnify_error_token(cli: Cli) -> None:
    """error_token names the error ("NotAllowed"): not a secret."""
    res = cli(
        "emnify", "--base-url", base_url("emnify"), "--application-token", "app-tok-1",
        "-t", "endpoint:1000400", "-v", "hi",
    )  # fmt: skip
    assert res.exit_code == 5, res.output
    assert '"error_token": "NotAllowed"' in res.stderr
    assert '"auth_token": "***"' in res.stderr  # the login reply's token stays hidden


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    ["error_token", "errorToken", "token_type", "tokenType", "auth_type", "expires_in",
     "token_expires_at", "tokenUrl", "authentication", "bypass", "passenger", "thing_key",
     "x-amzn-ErrorType", "WWW-Authenticate", "sessionExpired", "authenticated"],
)  # fmt: skip
def test_names_that_only_sound_secret(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["auth_token", "access_token", "refresh_token", "sessionId", "SESSION_ID", "SessionID",
     "password", "application_token", "Authorization", "X-Auth-Token", "appToken",
     "client_secret", "api_key", "x-api-key", "ns:password", "Set-Cookie"],
)  # fmt: skip
def test_token_fields_by_name(name: str) -> None:
    assert is_secret_name(name)


def test_error_token_kept_in_a_traced_reply() -> None:
    body = json.dumps({"error_code": 1406, "error_token": "NotAllowed", "auth_token": "jwt-x1"})
    assert json.loads(Redactor().body(body) or "") == {
        "error_code": 1406,
        "error_token": "NotAllowed",
        "auth_token": MASK,
    }


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("value", "free_text"),
    [
        ("refused", False),  # a word
        ("Password", False),  # a word
        ("abc12", False),  # too short
        ("sbx", False),  # --sandbox's placeholder
        ("refused1", True),
        ("pa-ss!", True),
        ("correcthorsebatterystaple", True),  # a passphrase: long enough
    ],
)
def test_which_secrets_are_looked_for_in_free_text(value: str, free_text: bool) -> None:
    assert distinctive(value) is free_text
    masked = Redactor([value]).text(f"the provider said {value} here")
    assert (MASK in masked) is free_text


def test_a_word_secret_is_masked_where_it_is_carried() -> None:
    r = Redactor(["refused"])
    text = (
        'Telit refused the login: {"username": "ops", "password": "refused"} '
        "<password>refused</password> password=refused Authorization: Basic cmVmdXNlZA=="
    )
    assert r.text(text) == (
        f'Telit refused the login: {{"username": "ops", "password": "{MASK}"}} '
        f"<password>{MASK}</password> password={MASK} Authorization: Basic {MASK}"
    )


# --------------------------------------------------------------------------- encoded forms


def test_basic_credentials_smscli_sends_are_masked_in_replies() -> None:
    """The Basic header's base64 of "AccountSid:Token", and its decoded form, wherever a
    reply quotes them (not only after "Authorization:")."""
    r = Redactor(["tok-3x4mple"])
    basic = base64.b64encode(b"AC1:tok-3x4mple").decode()
    r.add_credentials({"Authorization": f"Basic {basic}", "Accept": "application/json"})
    echo = f"got credentials {basic} (AC1:tok-3x4mple) for AC1"
    assert r.text(echo) == f"got credentials {MASK} ({MASK}) for AC1"


def test_a_short_basic_secret_is_masked_through_its_encoding() -> None:
    """A 3-character token is not looked for in free text, but the base64 smscli sent is."""
    r = Redactor(["abc"])
    basic = base64.b64encode(b"AC1:abc").decode()
    r.add_credentials({"authorization": f"Basic {basic}"})
    assert r.text(f"echo {basic} end") == f"echo {MASK} end"


SECRET = 'Ech0-"S3c&<et>+/pw'


@pytest.mark.parametrize(
    "encoded",
    [
        quote(SECRET, safe=""),
        quote_plus(SECRET, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(SECRET, safe="")),
        json.dumps(json.dumps(SECRET)[1:-1])[1:-1],  # JSON quoted inside JSON
        json.dumps(SECRET)[1:-1].replace("/", "\\/"),  # PHP's json_encode
        "Ech0-&quot;S3c&amp;&lt;et&gt;+/pw",  # an XML attribute
    ],
    ids=["url", "url-plus", "url-lower-hex", "json-in-json", "json-slash", "xml-attribute"],
)
def test_every_encoded_form_is_masked(encoded: str) -> None:
    assert encoded != SECRET
    assert Redactor([SECRET]).text(f"echo [{encoded}] end") == f"echo [{MASK}] end"


# --------------------------------------------------------------------------- quoted structure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\\"password\\": \\"pw-1\\", \\"to\\": \\"x\\"}', f'{{\\"password\\": \\"{MASK}\\", \\"to\\": \\"x\\"}}'),
        ("{'application_token': 'tk'}", f"{{'application_token': '{MASK}'}}"),
        ("{'Authorization': 'Bearer ey.x.y'}", f"{{'Authorization': 'Bearer {MASK}'}}"),
        ("VZ-M2M-Token: 1d1f-8e7a; next", f"VZ-M2M-Token: {MASK}; next"),
        ("x-auth-token:abc", f"x-auth-token:{MASK}"),
        ("&lt;password&gt;pw&lt;/password&gt;", f"&lt;password&gt;{MASK}&lt;/password&gt;"),
        ("grant_type=client_credentials&client_secret=cs", f"grant_type=client_credentials&client_secret={MASK}"),
        ('"password": ""', '"password": ""'),  # empty: a useful hint, not a secret
    ],
    ids=["escaped-json", "repr", "repr-bearer", "header", "header-no-space", "escaped-xml",
         "form", "empty"],
)  # fmt: skip
def test_credentials_quoted_in_provider_text(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Token: expired",  # a bare "Token:" in prose is not a header
        "Invalid password: it must have 8 characters",
        "error_token=NotAllowed",
        '{"error_token": "InvalidToken"}',
        "Telit refused the login: Authentication failed (error -90006)",
    ],
)
def test_provider_prose_is_left_alone(text: str) -> None:
    assert Redactor(["refused"]).text(text) == text


# --------------------------------------------------------------------------- clipped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"password": "refu…', f'{{"password": "{MASK}…'),
        ("<password>refu…", f"<password>{MASK}…"),
        ("Authorization: Basic QUMxOmFi…", f"Authorization: Basic {MASK}"),
        ("got S3cr3t-Val…)", f"got {MASK}…)"),  # the start of a known secret
        ("got S3…", "got S3…"),  # two characters: nothing to hide
    ],
    ids=["json", "xml", "header", "value", "too-short"],
)
def test_a_secret_cut_short_by_clipping_is_masked(text: str, expected: str) -> None:
    assert Redactor(["S3cr3t-Value-1"]).text(text) == expected


# --------------------------------------------------------------------------- sinks


def test_an_error_is_scrubbed_in_place() -> None:
    err = ProviderRefused(
        'refused: {"password": "pw"} tok-3x4mple', hint="tok-3x4mple", provider_code="c"
    )
    Redactor(["tok-3x4mple"]).error(err)
    assert err.message == f'refused: {{"password": "{MASK}"}} {MASK}'
    assert str(err) == err.message
    assert err.hint == MASK


def test_a_status_report_is_scrubbed() -> None:
    report = StatusReport(
        Status.FAILED, "Failed tok-3x4mple", error={"message": "tok-3x4mple"}, details={"k": 1}
    )
    out = Redactor(["tok-3x4mple"]).report(report)
    assert out == StatusReport(
        Status.FAILED, f"Failed {MASK}", error={"message": MASK}, details={"k": 1}
    )


def test_history_stores_only_scrubbed_errors(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db", redactor=Redactor(["tok-3x4mple"]))
    row = history.start(
        provider="emnify", profile=None, base_url="http://x", target="endpoint:1", text="hi",
        segments=1, encoding="gsm7", reference=None,
    )  # fmt: skip
    result = SendResult(
        "emnify",
        None,
        "endpoint:1",
        Status.REJECTED,
        error={"message": 'echo {"application_token": "short"} tok-3x4mple'},
        details={"echo": "tok-3x4mple", "password": "pw"},
    )
    history.finish(row, result)
    history.set_status(row or 0, Status.FAILED, {"note": "tok-3x4mple"})
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("h.db*"))
    assert b"tok-3x4mple" not in raw
    assert b"short" not in raw
    stored = history.last()
    assert stored is not None
    assert stored["error"]["message"] == f'echo {{"application_token": "{MASK}"}} {MASK}'


def test_a_credential_header_keeps_its_scheme_readable() -> None:
    r = Redactor()
    r.add_credentials({"Authorization": "Bearer eyJ0eXAi.eyJzdWIi.c2ln"})
    assert r.text("got Bearer eyJ0eXAi.eyJzdWIi.c2ln") == f"got Bearer {MASK}"
