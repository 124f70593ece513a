"""`smscli log` filters and `smscli status --batch` through the command line."""

from __future__ import annotations

from tests.conftest import Cli, base_url

FD = ["--account-sid", "AC1", "--token", "tok-secret-1", "--property-sid", "PR1"]
ENV = {
    "SMSCLI_FONEDYNAMICS_ACCOUNT_SID": "AC1",
    "SMSCLI_FONEDYNAMICS_TOKEN": "tok-secret-1",
    "SMSCLI_FONEDYNAMICS_PROPERTY_SID": "PR1",
}


def send(cli: Cli, *targets: str) -> dict:  # type: ignore[type-arg]
    args = ["fonedynamics", "--base-url", base_url("fonedynamics"), *FD, "Hi", "--json"]
    for t in targets:
        args += ["-t", t]
    res = cli(*args)
    assert res.exit_code in (0, 9), res.output
    return res.json()  # type: ignore[no-any-return]


def test_log_filters_by_batch_status_and_since(cli: Cli) -> None:
    first = send(cli, "+61488023555", "+61488000400")
    second = send(cli, "+61488023556")
    batch = first["summary"]["batch"]
    rows = cli("log", "--batch", batch, "--json").json()["entries"]
    assert sorted(r["target"] for r in rows) == ["msisdn:+61488000400", "msisdn:+61488023555"]
    rejected = cli("log", "--status", "rejected", "--json").json()["entries"]
    assert [r["target"] for r in rejected] == ["msisdn:+61488000400"]
    assert len(cli("log", "--since", "1h", "--json").json()["entries"]) == 3
    assert cli("log", "--since", "2999-01-01T00:00:00+00:00", "--json").json()["entries"] == []
    assert cli("log", "--since", "yesterday").exit_code == 2  # usage error (issue 9)
    assert second["summary"]["batch"] != batch


def test_log_never_shows_secrets(cli: Cli) -> None:
    send(cli, "+61488023555")
    res = cli("log", "--json")
    assert "tok-secret-1" not in res.output


def test_status_batch_waits_for_every_message(cli: Cli) -> None:
    sent = send(cli, "+61488023555", "+61488023556", "+61488000410")
    batch = sent["summary"]["batch"]
    res = cli("status", "--batch", batch, "--wait=1m", "--json", **ENV)
    statuses = {r["target"]: r["status"] for r in res.json()["results"]}
    assert statuses == {
        "msisdn:+61488023555": "delivered",
        "msisdn:+61488023556": "delivered",
        "msisdn:+61488000410": "failed",
    }
    assert res.exit_code == 9  # some delivered, one failed
    assert cli("status", "--batch", "nope", **ENV).exit_code == 4
    assert cli("status", "--last", "--batch", batch, **ENV).exit_code == 2


def test_status_takes_credential_flags(cli: Cli) -> None:
    send(cli, "+61488023555")
    cli.advance(5)
    res = cli(
        "status",
        "--last",
        "--json",
        "--account-sid",
        "AC1",
        "--token",
        "tok-secret-1",
        "--property-sid",
        "PR1",
    )
    assert res.exit_code == 0, res.output
    assert res.json()["results"][0]["status"] == "delivered"
    assert "tok-secret-1" not in res.output


def test_a_huge_log_count_shows_every_row(cli: Cli) -> None:
    # Past SQLite's INTEGER (2**63 - 1): every row, not an internal error (issue 9, W8).
    send(cli, "+61488023555")
    res = cli("log", "-n", "99999999999999999999", "--json")
    assert res.exit_code == 0, res.output
    assert [r["target"] for r in res.json()["entries"]] == ["msisdn:+61488023555"]


def test_status_of_an_id_past_sqlite_integers_or_of_unicode_digits_is_not_found(
    cli: Cli,
) -> None:
    send(cli, "+61488023555")
    for ident in ("99999999999999999999", "#99999999999999999999", "²", "#٣"):
        res = cli("status", ident, "--json", **ENV)
        assert res.exit_code == 4, (ident, res.output)
        assert res.json()["error"]["code"] == "not_found", ident
