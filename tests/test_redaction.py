"""smscli.redaction: secrets hidden by name (headers, JSON keys, XML elements) and by value
(raw, JSON-escaped, XML-escaped), so that nothing secret reaches any output (SPEC §4, §6)."""

from __future__ import annotations

import json
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pytest

from smscli.redaction import MASK, Redactor, is_secret_name

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "passwd",
        "token",
        "application_token",
        "auth_token",
        "client_secret",
        "sessionId",
        "session_id",
        "api_key",
        "apiKey",
        "Authorization",
        "VZ-M2M-Token",
        "Cookie",
        "credentials",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["token_type", "expires_in", "username", "message", "to", "account_sid", "id", "Content-Type"],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Basic abc", "Basic ***"),
        ("authorization", "Bearer eyJhbGciOi.xyz", "Bearer ***"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg==", "Basic ***"),
        ("VZ-M2M-Token", "1d1f8e7a-c8bb-4f3c-a924-cf612b562425", MASK),
        ("sessionId", "a1b2c3d4", MASK),
        ("X-Auth-Token", "k-123456", MASK),
        ("Cookie", "sid=abc", MASK),
    ],
    ids=["basic", "bearer", "proxy-basic", "vz-m2m-token", "sessionId", "x-auth-token", "cookie"],
)
def test_secret_headers(name: str, value: str, expected: str) -> None:
    assert Redactor().headers({name: value}) == {name: expected}


def test_other_headers_kept_but_value_masked() -> None:
    redactor = Redactor(["known-secret-42"])
    out = redactor.headers(
        {"Content-Type": "application/json", "X-Echo": "prefix known-secret-42 suffix"}
    )
    assert out == {"Content-Type": "application/json", "X-Echo": f"prefix {MASK} suffix"}


# --------------------------------------------------------------------------- JSON structures


def test_data_masks_secret_keys_at_any_depth() -> None:
    data = {
        "username": "ops",
        "password": "pw-1",
        "auth": {
            "command": "api.authenticate",
            "params": {"username": "ops", "password": "pw-2", "appToken": "t"},
        },
        "auth_header": "sessionIdValue",
        "list": [{"token": "t-1", "id": 1}, {"application_token": "t-2"}, "plain"],
        "nested": {"deeper": {"auth_token": "jwt", "client_secret": "cs", "sessionId": "sid"}},
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    assert Redactor().data(data) == {
        "username": "ops",
        "password": MASK,
        "auth": {
            "command": "api.authenticate",
            "params": {"username": "ops", "password": MASK, "appToken": MASK},
        },
        "auth_header": MASK,
        "list": [{"token": MASK, "id": 1}, {"application_token": MASK}, "plain"],
        "nested": {"deeper": {"auth_token": MASK, "client_secret": MASK, "sessionId": MASK}},
        "token_type": "Bearer",
        "expires_in": 3600,
    }


def test_data_keeps_already_masked_values_readable() -> None:
    data = {"Authorization": "Basic ***", "token": "***", "password": "not***masked"}
    assert Redactor().data(data) == {
        "Authorization": "Basic ***",
        "token": MASK,
        "password": MASK,
    }


def test_data_leaves_empty_secret_values_visible() -> None:
    """An empty password is shown as empty: that is a useful hint, not a secret."""
    assert Redactor().data({"password": "", "token": None}) == {"password": "", "token": None}


def test_data_masks_known_values_under_innocent_keys() -> None:
    redactor = Redactor(["eyJ-the-jwt-value"])
    assert redactor.data({"note": "got eyJ-the-jwt-value back", "n": 5}) == {
        "note": f"got {MASK} back",
        "n": 5,
    }


def test_data_does_not_change_its_input() -> None:
    original = {"password": "pw-1", "list": [{"token": "t"}]}
    Redactor().data(original)
    assert original == {"password": "pw-1", "list": [{"token": "t"}]}


# --------------------------------------------------------------------------- XML


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("<password>hunter2</password>", f"<password>{MASK}</password>"),
        ("<Password>hunter2</Password>", f"<Password>{MASK}</Password>"),
        ("<PASSWORD>hunter2</PASSWORD>", f"<PASSWORD>{MASK}</PASSWORD>"),
        ('<password type="plain">hunter2</password>', f'<password type="plain">{MASK}</password>'),
        ("<ns:password>hunter2</ns:password>", f"<ns:password>{MASK}</ns:password>"),
        ("<sessionToken>abc123</sessionToken>", f"<sessionToken>{MASK}</sessionToken>"),
        ("<client_secret>s</client_secret>", f"<client_secret>{MASK}</client_secret>"),
    ],
    ids=["lower", "title", "upper", "attributes", "namespace", "sessionToken", "client_secret"],
)
def test_xml_secret_elements(xml: str, expected: str) -> None:
    assert Redactor().text(xml) == expected


def test_xml_request_keeps_the_rest() -> None:
    xml = (
        '<?xml version="1.0"?><request version="1" api_id="42"><authentication>'
        "<username>api-user</username><password>p&amp;ss</password></authentication>"
        "<send_sms><iccid>8988303000000000100</iccid><text>hi</text></send_sms></request>"
    )
    out = Redactor().text(xml)
    assert f"<password>{MASK}</password>" in out
    assert "p&amp;ss" not in out
    assert "<username>api-user</username>" in out
    assert "<text>hi</text>" in out
    assert 'api_id="42"' in out


# --------------------------------------------------------------------------- values


def test_value_masked_raw() -> None:
    assert Redactor(["s3cr3t-value"]).text("id s3cr3t-value, again s3cr3t-value") == (
        f"id {MASK}, again {MASK}"
    )


@pytest.mark.parametrize(
    "secret", ['pa"ss\\word', 'quote"only', "back\\slash", "tab\tin"], ids=repr
)
def test_value_masked_json_escaped(secret: str) -> None:
    text = json.dumps({"note": secret})
    assert secret not in text  # the wire form is not the raw one
    out = Redactor([secret]).text(text)
    assert out == json.dumps({"note": MASK})


@pytest.mark.parametrize("secret", ["a<b&c>d", "x&y-zz", "<<>><<>>"], ids=repr)
def test_value_masked_xml_escaped(secret: str) -> None:
    text = f"<note>{escape(secret)}</note>"
    assert Redactor([secret]).text(text) == f"<note>{MASK}</note>"


def test_value_masked_xml_escaped_with_quote_in_element_text() -> None:
    """Element text escapes only <, & and > (xml.sax.saxutils, xmltodict, ElementTree):
    a quote stays a quote, so the escaped form must be looked for without &quot; too."""
    secret = 'p"w<1&2'
    text = f"<note>{escape(secret)}</note>"
    assert Redactor([secret]).text(text) == f"<note>{MASK}</note>"


def test_value_masked_xml_escaped_in_attribute() -> None:
    secret = 'p"w<1-x'
    quoted = escape(secret, {'"': "&quot;"})
    text = f'<r key="{quoted}"/>'
    assert Redactor([secret]).text(text) == f'<r key="{MASK}"/>'


def test_longest_secret_masked_first() -> None:
    redactor = Redactor(["abcd-1", "abcd-1-efgh"])
    assert redactor.text("x abcd-1-efgh y abcd-1 z") == f"x {MASK} y {MASK} z"


def test_longest_first_regardless_of_insertion_order() -> None:
    redactor = Redactor()
    redactor.add("token-1234567")
    redactor.add("token-1234")
    assert redactor.text("token-1234567") == MASK


@pytest.mark.parametrize("value", ["", "a", "ab", "abc"], ids=["empty", "1", "2", "3"])
def test_short_values_not_value_masked(value: str) -> None:
    redactor = Redactor([value])
    assert redactor.text("abc and a b c") == "abc and a b c"


def test_short_value_masked_only_where_carried() -> None:
    """Shorter than FREE_TEXT_MIN: not looked for in free text, masked in its field."""
    redactor = Redactor(["ab12"])
    assert redactor.text("id ab12 and xab12x") == "id ab12 and xab12x"
    assert redactor.text('{"password": "ab12"}') == f'{{"password": "{MASK}"}}'


def test_value_masked_as_a_whole_token_only() -> None:
    """Not inside a longer word or number: a secret 123456 leaves the id 91234567 alone."""
    redactor = Redactor(["123456", "s3cr3t-value"])
    assert redactor.text("id 91234567, pin 123456.") == f"id 91234567, pin {MASK}."
    assert redactor.text("xs3cr3t-value s3cr3t-value!") == f"xs3cr3t-value {MASK}!"


def test_add_none_is_ignored() -> None:
    redactor = Redactor()
    redactor.add(None)
    assert redactor.text("None") == "None"


# --------------------------------------------------------------------------- body()


def test_body_none() -> None:
    assert Redactor().body(None) is None


def test_body_json_object() -> None:
    body = json.dumps(
        {"username": "u", "password": "pw-123", "to": "+61400000100", "text": "Grüße"},
        ensure_ascii=False,
    )
    out = Redactor().body(body)
    assert out is not None
    assert json.loads(out) == {
        "username": "u",
        "password": MASK,
        "to": "+61400000100",
        "text": "Grüße",
    }
    assert "pw-123" not in out
    assert "Grüße" in out  # not \u-escaped


def test_body_json_array_with_known_value() -> None:
    out = Redactor(["run-time-token"]).body('[{"sessionId": "sid-1"}, "run-time-token"]')
    assert out is not None
    assert json.loads(out) == [{"sessionId": MASK}, MASK]


def test_body_json_like_but_invalid_falls_back_to_text() -> None:
    out = Redactor(["s3cr3t-value"]).body('{"password": "s3cr3t-value", broken')
    assert out == '{"password": "***", broken'


def test_body_xml() -> None:
    out = Redactor(["api-user-password"]).body(
        "<request><password>api-user-password</password><x>api-user-password</x></request>"
    )
    assert out == f"<request><password>{MASK}</password><x>{MASK}</x></request>"


def test_body_form() -> None:
    secret = "form-secret-99"
    body = urlencode({"grant_type": "client_credentials", "client_secret": secret})
    out = Redactor([secret]).body(body)
    assert out == f"grant_type=client_credentials&client_secret={MASK}"


def test_body_plain_text() -> None:
    out = Redactor(["plain-secret"]).body("Unauthorized: bad token plain-secret\n")
    assert out == f"Unauthorized: bad token {MASK}\n"


def test_body_text_without_secrets_unchanged() -> None:
    text = "<html><body>502 Bad Gateway</body></html>"
    assert Redactor(["irrelevant-value"]).body(text) == text


def test_json_too_deep_for_the_json_module_is_scrubbed_as_text() -> None:
    r = Redactor(["s3cr3t-value"])
    deep = '{"a": ' * 100_000 + '"s3cr3t-value"' + "}" * 100_000
    out = r.body(deep)
    assert out is not None
    assert "s3cr3t-value" not in out
    assert out.startswith('{"a": {"a":')


def test_data_scrubs_a_structure_deeper_than_the_recursion_limit() -> None:
    r = Redactor(["s3cr3t-value"])
    value: object = {"password": "p", "note": "s3cr3t-value"}
    for _ in range(5000):
        value = [{"x": value}]
    out = r.data(value)
    for _ in range(5000):
        assert isinstance(out, list)
        out = out[0]["x"]
    assert out == {"password": "***", "note": "***"}


def test_a_text_scrubbed_before_a_secret_was_known_is_scrubbed_again_after() -> None:
    # text() remembers its answers (a bulk run scrubs the same values again and again);
    # a secret learnt later (a token from a login) must not be missed because of it.
    redactor = Redactor(["first-secret-1"])
    line = "token fresh-token-42 and first-secret-1"
    assert redactor.text(line) == "token fresh-token-42 and ***"
    assert redactor.text(line) == "token fresh-token-42 and ***"  # the remembered answer
    redactor.add("fresh-token-42", generated=True)
    assert redactor.text(line) == "token *** and ***"
