"""Issue 9, "exactness against the vendors": each provider's own sender rule, phone senders
normalised as targets are, and a trunk 0 after the country code — through the command line,
against the in-process sandbox."""

from __future__ import annotations

import json
import re
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from tests.conftest import Cli, base_url, write_config

FD = ["--account-sid", "AC123", "--token", "tok", "--property-sid", "PR456"]
TELIT = ["--username", "u@example.com", "--password", "pw"]
CSL = ["--username", "api", "--password", "pw", "--api-id", "123456"]
EMNIFY = ["--application-token", "app-token"]
CREDENTIALS = {"fonedynamics": FD, "telit": TELIT, "csl": CSL, "emnify": EMNIFY}
TARGET = {
    "fonedynamics": "+61488023555",
    "telit": "thing:pump-7",
    "csl": "iccid:89440000000000000010",
    "emnify": "endpoint:1001",
}


def send(cli: Cli, slug: str, *args: str) -> object:
    return cli(slug, "--base-url", base_url(slug), *CREDENTIALS[slug], *args)


def sent_body(cli: Cli) -> dict[str, object]:
    """The JSON body of the last request (the send)."""
    body = json.loads(cli.recorder.requests[-1].content)
    assert isinstance(body, dict)
    return body


# --------------------------------------------------------------------------- senders


@pytest.mark.parametrize("sender", ["+61 499 009 990", "61499009990", "0061 499-009-990"])
def test_fonedynamics_phone_sender_is_sent_as_e164(cli: Cli, sender: str) -> None:
    res = send(cli, "fonedynamics", "-t", "+61488023555", "--from", sender, "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["From"] == "+61499009990"


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("12345", "5 digits, a phone number has 7–15 digits"),
        ("TwelveChars1", "12 characters; a sender ID has at most 11"),
        ("Acme-Corp", "only A-Z, a-z, 0-9 and spaces"),
        ("0499009990", "starts with 0"),
    ],
)
def test_fonedynamics_sender_it_would_refuse_is_refused_locally(
    cli: Cli, sender: str, reason: str
) -> None:
    res = send(cli, "fonedynamics", "-t", "+61488023555", "--from", sender, "Hi")
    assert res.exit_code == 4, res.output
    assert cli.recorder.requests == []
    [error, hint] = res.stderr.splitlines()
    assert error.startswith(f"error: invalid --from '{sender}': ")
    assert reason in error
    assert hint.startswith("hint: Fone Dynamics sends From an E.164 number")


def test_fonedynamics_leased_and_alphanumeric_senders_go_as_given(cli: Cli) -> None:
    assert (
        send(cli, "fonedynamics", "-t", "+61488023555", "--from", "My Shop 1", "Hi").exit_code == 0
    )
    assert sent_body(cli)["From"] == "My Shop 1"
    assert send(cli, "fonedynamics", "-t", "+61488023555", "--from", "", "Hi").exit_code == 0
    assert sent_body(cli)["From"] == ""


@pytest.mark.parametrize(
    ("sender", "wire"),
    [
        ("+61 499 009 990", "61499009990"),
        ("0061 499 009 990", "61499009990"),
        ("800-987-6543", "8009876543"),  # the docs' own example, digits as given
        ("12345", "12345"),  # a short code: Telit documents no rule, so it is not refused
        ("Acme-Corp!", "Acme-Corp!"),  # no documented character set either
    ],
)
def test_telit_from_is_normalised_like_its_msisdn(cli: Cli, sender: str, wire: str) -> None:
    res = send(cli, "telit", "-t", "thing:pump-7", "--from", sender, "Hi")
    assert res.exit_code == 0, res.output
    body = sent_body(cli)
    assert body["1"]["params"]["from"] == wire  # type: ignore[index]


def test_telit_sender_name_past_eleven_characters_is_refused(cli: Cli) -> None:
    res = send(cli, "telit", "-t", "thing:pump-7", "--from", "Twelve Chars", "Hi")
    assert res.exit_code == 4
    assert "12 characters" in res.stderr
    assert cli.recorder.requests == []


def test_telit_international_sender_must_be_e164(cli: Cli) -> None:
    res = send(cli, "telit", "-t", "thing:pump-7", "--from", "+61 12", "Hi")
    assert res.exit_code == 4
    assert "invalid --from '+61 12': 4 digits" in res.stderr
    assert cli.recorder.requests == []


@pytest.mark.parametrize(
    ("sender", "address", "kind"),
    [
        ("Acme-Corp", "Acme-Corp", 208),  # emnify's rule: at most 11 characters, type 208
        ("Büro 24/7", "Büro 24/7", 208),
        ("+61 499 009 990", "61499009990", 145),
        ("12345689", "12345689", 161),
    ],
)
def test_emnify_sender_follows_its_own_rule(cli: Cli, sender: str, address: str, kind: int) -> None:
    res = send(cli, "emnify", "-t", "endpoint:1001", "--from", sender, "Hi")
    assert res.exit_code == 0, res.output
    body = sent_body(cli)
    assert body["source_address"] == address
    assert body["source_address_type"] == {"id": kind}


def test_emnify_sender_past_eleven_characters_is_refused(cli: Cli) -> None:
    res = send(cli, "emnify", "-t", "endpoint:1001", "--from", "Acme Company", "Hi")
    assert res.exit_code == 4
    assert "12 characters; emnify takes an alphanumeric sender of at most 11" in res.stderr
    assert cli.recorder.requests == []


def test_csl_sender_is_digits_only(cli: Cli) -> None:
    res = send(cli, "csl", "-t", TARGET["csl"], "--from", "Acme", "Hi")
    assert res.exit_code == 4
    assert "CSL's origin is a phone number (digits), not a name" in res.stderr
    assert cli.recorder.requests == []
    res = send(cli, "csl", "-t", TARGET["csl"], "--from", "+44 7890 123456", "Hi")
    assert res.exit_code == 0, res.output
    assert b"<origin>447890123456</origin>" in cli.recorder.requests[-1].content


def test_profile_sender_follows_the_provider_rule_too(cli: Cli, isolated: Path) -> None:
    write_config(
        isolated,
        f"""
[profiles.shop]
provider = "fonedynamics"
base_url = "{base_url("fonedynamics")}"
account_sid = "AC1"
token = "t"
property_sid = "PR1"
sender = "61 499 009 990"
""",
    )
    res = cli("send", "-p", "shop", "-t", "+61488023555", "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["From"] == "+61499009990"


# --------------------------------------------------------------------------- trunk 0


@pytest.mark.parametrize("to", ["+61 0488 023 555", "+610488023555", "0061 0488 023 555"])
def test_trunk_zero_after_the_country_code_is_dropped_with_a_warning(cli: Cli, to: str) -> None:
    res = send(cli, "fonedynamics", "-t", to, "Hi", "--json")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["To"] == "+61488023555"
    assert res.json()["results"][0]["target"] == "msisdn:+61488023555"
    assert (
        f"warning: target 1: msisdn '{to}': dropped the national trunk prefix 0 after country "
        "code +61, sending to +61488023555"
    ) in res.stderr


def test_a_zero_that_belongs_to_the_number_is_kept(cli: Cli) -> None:
    res = send(cli, "fonedynamics", "-t", "+39 06 6982 1234", "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["To"] == "+390669821234"
    assert "trunk" not in res.stderr


def test_sender_with_a_trunk_zero_is_normalised_with_a_warning(cli: Cli) -> None:
    res = send(cli, "fonedynamics", "-t", "+61488023555", "--from", "+61 0499 009 990", "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["From"] == "+61499009990"
    assert (
        "warning: --from '+61 0499 009 990': dropped the national trunk prefix 0 after "
        "country code +61, sending to +61499009990"
    ) in res.stderr


# --------------------------------------------------------------------------- ThingSpace

TS = ["--client-id", "key", "--client-secret", "secret", "--username", "uws", "--password", "pw"]
ICCID = "iccid:89148000000800139702"


def thingspace(cli: Cli, *args: str) -> object:
    return cli("thingspace", "--base-url", base_url("thingspace"), *TS, *args)


def test_thingspace_sends_to_devices_without_an_account_name(cli: Cli) -> None:
    res = thingspace(cli, "-t", ICCID, "Can you hear me now?", "--json")
    assert res.exit_code == 0, res.output
    body = sent_body(cli)
    # Seed 002's own single-device example: deviceIds and smsMessage, no accountName.
    assert "accountName" not in body
    assert body["deviceIds"] == [{"kind": "iccid", "id": ICCID.split(":")[1]}]
    assert "account_name" not in res.json()["results"][0]["details"]


def test_thingspace_sends_a_configured_account_name(cli: Cli) -> None:
    res = thingspace(cli, "--account-name", "0000123456-00001", "-t", ICCID, "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["accountName"] == "0000123456-00001"


def test_thingspace_group_needs_an_account_name(cli: Cli) -> None:
    res = thingspace(cli, "--group", "fleet-a", "Hi")
    assert res.exit_code == 3, res.output
    assert res.stderr.startswith(
        "error: thingspace: --group needs account_name: a device group name may exist in "
        "several billing accounts\nhint: set account_name in the profile, "
        "SMSCLI_THINGSPACE_ACCOUNT_NAME or --account-name"
    )
    assert cli.recorder.requests == []
    res = thingspace(cli, "--account-name", "0000123456-00001", "--group", "fleet-a", "Hi")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["groupName"] == "fleet-a"
    assert sent_body(cli)["accountName"] == "0000123456-00001"


def test_thingspace_group_with_sandbox_needs_no_account_name(cli: Cli) -> None:
    res = cli("thingspace", "--sandbox", "--group", "fleet-a", "Hi")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("validity", "ttl"),
    [("2h", "PT2H"), ("90s", "PT1M30S"), ("30m", "PT30M"), ("3d", "P3D"), ("26h", "P1DT2H")],
)
def test_thingspace_validity_is_sent_as_time_to_live(cli: Cli, validity: str, ttl: str) -> None:
    res = thingspace(cli, "-t", ICCID, "--validity", validity, "Hi", "--json")
    assert res.exit_code == 0, res.output
    assert sent_body(cli)["timeToLive"] == ttl
    assert res.json()["results"][0]["details"]["time_to_live"] == ttl
    [stored] = cli.sandbox.messages()
    assert stored["fields"]["timeToLive"] == ttl


def test_thingspace_validity_past_the_five_day_default_is_refused(cli: Cli) -> None:
    assert thingspace(cli, "-t", ICCID, "--validity", "5d", "Hi").exit_code == 0
    res = thingspace(cli, "-t", ICCID, "--validity", "121h", "Hi")
    assert res.exit_code == 4
    assert "longer than ThingSpace's 5-day (120 h) default" in res.stderr


# --------------------------------------------------------------------------- emnify 201


def _without_location(cli: Cli, *, list_status: int | None = None) -> None:
    """emnify answers the send with the documented `201 {}` and no Location header; with
    ``list_status``, the endpoint's SMS list answers that status instead."""
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sms") and request.method == "GET" and list_status:
            return httpx.Response(list_status, json={"message": "unavailable"})
        response = inner(request)
        if request.method == "POST" and request.url.path.endswith("/sms"):
            assert response.status_code == 201
            headers = {k: v for k, v in response.headers.items() if k.lower() != "location"}
            return httpx.Response(201, headers=headers, content=b"{}")
        return response

    cli.recorder.handler = handler


def test_emnify_201_without_location_is_accepted_and_its_id_found_in_the_sms_list(
    cli: Cli,
) -> None:
    _without_location(cli)
    res = send(cli, "emnify", "-t", "endpoint:1001", "reboot", "--json")
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    [stored] = cli.sandbox.messages()
    assert result["status"] == "accepted"
    assert result["message_id"] == stored["id"]
    assert result["details"]["sms_id"] == "from the endpoint's SMS list (the 201 had no Location)"
    assert cli.recorder.paths()[-1] == "GET /emnify/api/v1/endpoint/1001/sms"
    # The id found is the one `status` asks about.
    status = cli("status", "--last", "--json", "--application-token", "app-token")
    assert status.exit_code == 0, status.output
    assert cli.recorder.paths()[-1] == f"GET /emnify/api/v1/endpoint/1001/sms/{stored['id']}"


def test_emnify_201_without_location_and_no_match_is_accepted_with_no_id(cli: Cli) -> None:
    send(cli, "emnify", "-t", "endpoint:1001", "reboot")  # the same text, long before
    cli.advance(3600)
    _without_location(cli)
    send(cli, "emnify", "-t", "endpoint:1001", "reboot")  # ...and twice within the window
    res = send(cli, "emnify", "-t", "endpoint:1001", "reboot", "--json")
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    assert result["status"] == "accepted"
    assert result["message_id"] is None
    assert result["details"]["sms_id"].startswith("unknown: the 201 had no Location")


def test_emnify_201_without_location_and_no_sms_list_is_still_accepted(cli: Cli) -> None:
    _without_location(cli, list_status=503)
    res = send(cli, "emnify", "-t", "endpoint:1001", "reboot", "-q")
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and res.stderr == ""


# --------------------------------------------------------------------------- may have gone out


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_fonedynamics_redirect_after_a_send_is_unknown_not_refused(cli: Cli, status: int) -> None:
    cli.recorder.handler = lambda request: httpx.Response(
        status, headers={"Location": "https://api.fonedynamics.com/v2/elsewhere"}
    )
    res = send(cli, "fonedynamics", "-t", "+61488023555", "Hi", "--json")
    assert res.exit_code == 7, res.output
    error = res.json()["error"]
    assert error["exit_code"] == 7
    assert error["message"] == (
        f"Fone Dynamics answered the message with HTTP {status} to "
        "https://api.fonedynamics.com/v2/elsewhere; the message may have been sent"
    )
    log = cli("log", "--json")
    assert log.json()["entries"][-1]["status"] == "unknown"


def _csl_answers(cli: Cli, xml: str) -> None:
    cli.recorder.handler = lambda request: httpx.Response(
        200, content=xml.encode(), headers={"Content-Type": "application/xml"}
    )


@pytest.mark.parametrize(
    "outcome", ["<api_outcome></api_outcome>", "<api_outcome/>", "<api_outcome>  </api_outcome>"]
)
def test_csl_empty_api_outcome_after_a_send_is_unknown_not_refused(cli: Cli, outcome: str) -> None:
    _csl_answers(cli, f'<send_sms_response api_id="123456">{outcome}</send_sms_response>')
    res = send(cli, "csl", "-t", TARGET["csl"], "Hi")
    assert res.exit_code == 7, res.output
    assert res.stderr.splitlines()[0] == (
        "error: CSL SIM Insight (XML) answered HTTP 200 with an empty api_outcome; the message "
        "may have been sent"
    )


def test_csl_empty_api_outcome_with_an_error_element_is_still_a_refusal(cli: Cli) -> None:
    _csl_answers(
        cli,
        '<send_sms_response api_id="1"><api_outcome/>'
        "<error_description>unknown ICCID</error_description></send_sms_response>",
    )
    res = send(cli, "csl", "-t", TARGET["csl"], "Hi")
    assert res.exit_code == 5, res.output
    assert "unknown ICCID" in res.stderr


# --------------------------------------------------------------------------- doctor, wrong paths

PROFILE_FIELDS = {
    "telit": {"username": "u@example.com", "password": "pw"},
    "csl": {"username": "api", "password": "pw", "api_id": "123456"},
    "thingspace": {"client_id": "k", "client_secret": "s", "username": "u", "password": "p"},
    "emnify": {"application_token": "app-token"},
    "fonedynamics": {"account_sid": "AC1", "token": "tok", "property_sid": "PR1"},
}
SLUGS = list(PROFILE_FIELDS)


def profile(home: Path, slug: str, url: str) -> None:
    fields = "\n".join(f'{k} = "{v}"' for k, v in PROFILE_FIELDS[slug].items())
    write_config(home, f'[profiles.p]\nprovider = "{slug}"\nbase_url = "{url}"\n{fields}\n')


def doctor(cli: Cli) -> tuple[int, dict[str, tuple[str, str]]]:
    res = cli("doctor", "-p", "p", "--json")
    return res.exit_code, {c["check"]: (c["result"], c["detail"]) for c in res.json()["checks"]}


@pytest.mark.parametrize("slug", SLUGS)
def test_doctor_passes_against_the_api(cli: Cli, isolated: Path, slug: str) -> None:
    profile(isolated, slug, base_url(slug))
    code, checks = doctor(cli)
    assert code == 0, checks
    assert checks["login"][0] == "ok"


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.parametrize("path", ["/nothing-here", "/{slug}/v9"], ids=["other-path", "sub-path"])
def test_doctor_fails_for_a_base_url_with_a_wrong_path(
    cli: Cli, isolated: Path, slug: str, path: str
) -> None:
    profile(isolated, slug, "http://sandbox.test" + path.format(slug=slug))
    code, checks = doctor(cli)
    assert code == 3, checks
    result, detail = checks["login"]
    assert result == "FAIL"
    assert "the base_url's path looks wrong (the credentials were not checked)" in detail
    assert "refused the login" not in detail


def test_doctor_names_a_base_url_with_a_wrong_scheme(cli: Cli, isolated: Path) -> None:
    profile(isolated, "fonedynamics", "htp://sandbox.test/fonedynamics")
    code, checks = doctor(cli)
    assert code == 3
    assert checks["base_url"][0] == "FAIL"
    assert "scheme must be http:// or https://" in checks["base_url"][1]
    assert "reachability" not in checks and "login" not in checks
    assert cli.recorder.requests == []


@pytest.mark.parametrize("slug", ["telit", "thingspace", "emnify"])
def test_a_404_on_login_blames_the_url_path_not_the_credentials(
    cli: Cli, isolated: Path, slug: str
) -> None:
    profile(isolated, slug, "http://sandbox.test/nothing-here")
    target = {"telit": "thing:x", "thingspace": ICCID, "emnify": "endpoint:1001"}[slug]
    res = cli("send", "-p", "p", "-t", target, "Hi")
    assert res.exit_code == 3, res.output
    error, hint = res.stderr.strip().splitlines()
    assert "with HTTP 404" in error
    assert "the base_url's path looks wrong (the credentials were not checked)" in error
    assert hint.startswith("hint: base_url is scheme + host + optional path prefix")
    assert "credentials;" not in hint


# --------------------------------------------------------------------------- emnify 401


@pytest.mark.parametrize("mode", ["human", "json"])
def test_emnify_refused_credentials_name_the_provider_and_say_what_to_check(
    cli: Cli, mode: str
) -> None:
    res = send(
        cli, "emnify", "-t", "endpoint:1000401", "Hi", *(["--json"] if mode == "json" else [])
    )
    assert res.exit_code == 5, res.output
    message = (
        "emnify refused the message (HTTP 401) with the auth token it had just issued: the "
        "application token logs in but is not accepted for this call"
    )
    hint = (
        "check the application token's permissions in the emnify portal; smscli logged in "
        "once more and does not retry again"
    )
    if mode == "json":
        error = res.json()["error"]
        assert (error["message"], error["hint"], error["code"]) == (
            message,
            hint,
            "session_refused",
        )
    else:
        assert res.stderr.splitlines() == [f"error: {message}", f"hint: {hint}"]


# --------------------------------------------------------------------------- dates

UTC_SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


def _with_date_header(cli: Cli) -> None:
    """Replies carry a Date header, as from a real server (the in-process sandbox has none)."""
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        if "date" not in response.headers:
            response.headers["Date"] = formatdate(cli.clock[0], usegmt=True)
        return response

    cli.recorder.handler = handler


@pytest.mark.parametrize("slug", ["telit", "csl", "emnify", "fonedynamics"])
def test_dates_print_alike_for_every_provider(cli: Cli, slug: str) -> None:
    _with_date_header(cli)
    res = send(cli, slug, "-t", TARGET[slug], "Hi", "--wait=1m", "--json")
    assert res.exit_code == 0, res.output
    [result] = res.json()["results"]
    # ISO 8601 in UTC to the second: Telit's dateSent has milliseconds and may have any
    # offset, and printed them ("2026-12-06T07:21:04.442000+00:00").
    assert re.fullmatch(UTC_SECONDS, result["date"]), result["date"]
    assert re.fullmatch(UTC_SECONDS, result["details"]["status_date"])


def test_thingspace_date_prints_alike(cli: Cli) -> None:
    _with_date_header(cli)
    res = thingspace(cli, "-t", ICCID, "Hi", "--json")
    assert re.fullmatch(UTC_SECONDS, res.json()["results"][0]["date"])


def test_telit_date_with_an_offset_and_milliseconds_is_shown_in_utc_seconds(cli: Cli) -> None:
    inner = cli.recorder.handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        body = json.loads(response.content)
        params = body.get("1", {}).get("params", {})
        if "dateSent" in params:
            params["dateSent"] = "2021-09-17T10:24:08.12-04:00"  # the docs' own example
            return httpx.Response(response.status_code, json=body)
        return response

    cli.recorder.handler = handler
    res = send(cli, "telit", "-t", "thing:pump-7", "Hi")
    assert res.exit_code == 0, res.output
    assert "2021-09-17T14:24:08+00:00" in res.stdout
    assert ".12" not in res.stdout


# --------------------------------------------------------------------------- --wait alike

LABELS = {
    "telit": "Telit IoT Portal (TR50)",
    "csl": "CSL SIM Insight (XML)",
    "emnify": "emnify",
    "fonedynamics": "Fone Dynamics",
}
MAGIC = {
    "telit": "thing:pump-{}",
    "csl": "iccid:894400000000000{}",
    "emnify": "endpoint:100{}",
    "fonedynamics": "+61488000{}",
}
WAITING = ["telit", "csl", "emnify", "fonedynamics"]


@pytest.mark.parametrize("slug", WAITING)
@pytest.mark.parametrize(("suffix", "status"), [("0410", "failed"), ("0411", "expired")])
def test_wait_reports_an_undelivered_message_alike_for_every_provider(
    cli: Cli, slug: str, suffix: str, status: str
) -> None:
    to = MAGIC[slug].format(suffix)
    res = send(cli, slug, "-t", to, "Hi", "--wait=1m")
    assert res.exit_code == 8, res.output
    [error, warning] = res.stderr.splitlines()
    # One line saying which target and why, in the provider's name (two providers printed
    # one, two none), then the run's one line (W4).
    shown = to if ":" in to else f"msisdn:{to}"
    pattern = rf"error: {re.escape(shown)}: {re.escape(LABELS[slug])} reports \S+( \(.+\))?"
    assert re.fullmatch(pattern, error), error
    assert warning == f"warning: not delivered: 1 {status}"

    as_json = send(cli, slug, "-t", to, "Hi", "--wait=1m", "--json")
    [result] = as_json.json()["results"]
    assert result["status"] == status  # Fone Dynamics' Failed + EXPIRED included
    assert set(result["error"]) == {"code", "message", "provider_code", "exit_code"}
    assert (result["error"]["code"], result["error"]["exit_code"]) == (status, 8)
    assert result["error"]["message"].startswith(f"{LABELS[slug]} reports ")


@pytest.mark.parametrize("slug", WAITING)
def test_wait_summary_counts_delivered_messages_as_delivered(cli: Cli, slug: str) -> None:
    targets = [MAGIC[slug].format(n) for n in ("1234", "5678")]
    res = send(cli, slug, "-t", targets[0], "-t", targets[1], "Hi", "--wait=1m")
    assert res.exit_code == 0, res.output
    summary = res.stderr.splitlines()[-1]
    assert summary.startswith(
        "2 target(s): 2 delivered, 0 not delivered yet, 0 failed, 0 skipped (batch "
    ), summary
    doc = send(cli, slug, "-t", targets[0], "-t", targets[1], "Hi", "--wait=1m", "--json")
    assert doc.json()["summary"]["delivered"] == 2
    assert doc.json()["summary"]["accepted"] == 2  # SPEC §4: every message the provider took
    batch = doc.json()["summary"]["batch"]
    status = cli("status", "--batch", batch, *CREDENTIALS[slug])
    assert status.exit_code == 0, status.output
    assert status.stderr.splitlines()[-1].startswith("2 target(s): 2 delivered, ")
