#!/usr/bin/env python3
"""Write docs/reliability.md from one run of the suite: the test logs of `make unit` and
`make e2e` (target/reliability/unit.log, e2e.log), what the fault tests recorded
(faults.jsonl), the load checks (load.jsonl, from `make test-load` when it ran) and the e2e
subset against older Kubernetes releases (compat-<version>.log, from `make test-compat`).

Each scenario of issue 9 is listed with its test and that run's result; nothing is written by
hand here except which test answers which question."""

import datetime
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN = ROOT / "target" / "reliability"

# (section, what is asked, tests answering it: log names, prefix match allowed with '*').
SCENARIOS = [
    ("Faults", "API server unreachable after the backup, before the write", ["faults::api_server_cut_after_the_backup_changes_nothing"]),
    ("Faults", "API server unreachable after the write, before the restarts", ["faults::api_server_cut_after_the_write_is_finished_with_resume"]),
    ("Faults", "API server unreachable during the rollout", ["faults::api_server_cut_during_the_rollout_then_back"]),
    ("Faults", "Ctrl-C after the backup", ["faults::ctrl_c_after_the_backup_leaves_the_secret_untouched"]),
    ("Faults", "Ctrl-C after the write", ["faults::ctrl_c_after_the_write_is_undone_with_abort"]),
    ("Faults", "Ctrl-C during the rollout, then --resume / --abort", ["rotate::interrupted_rotation_is_finished_with_resume", "rotate::interrupted_rotation_is_found_and_undone_with_abort"]),
    ("Faults", "kill -9 after the write", ["faults::kill_9_after_the_write_is_found_by_the_next_run_and_finished"]),
    ("Faults", "kill -9 during the rollout", ["faults::kill_9_during_the_rollout_is_undone_with_abort"]),
    ("Faults", "a crash (panic) after the write: its message never shown", ["faults::a_crash_after_the_write_shows_no_message_and_is_undone_with_abort"]),
    ("Faults", "a rollout that crash-loops: previous data restored and restarted", ["rotate::crash_looping_rollout_is_rolled_back_to_the_previous_data"]),
    ("Faults", "every API request 1 s slower", ["faults::a_rotation_through_a_slow_api_server_ends_the_same"]),
    ("Faults", "one API request in five answered 500 or 503", ["faults::a_rotation_through_a_failing_api_server_ends_the_same"]),
    ("Faults", "one answer in four lost after the API server acted", ["faults::a_rotation_whose_answers_are_lost_ends_the_same_without_duplicates"]),
    ("Faults", "a SealedSecret rotation killed after the write, then --resume; again, then --abort", ["rotate_sealed::an_interrupted_sealed_rotation_is_resumed_and_another_aborted"]),
    ("Faults", "the controller does not unseal in time: file and cluster restored", ["rotate_sealed::an_unsealing_timeout_restores_the_file_and_the_cluster"]),
    ("Faults", "the change engine against a fake API server: 409 on write, 409 during restore, failed rollout, interruption at each step then resume and abort, paging", ["engine::*"]),
    ("Trust", "a planted \"backup\" Secret: shown as not recorded, reported by audit, never restored or pruned", ["trust::a_planted_backup_is_shown_as_such_reported_by_audit_and_never_restored_or_pruned"]),
    ("Trust", "a forged journal (old format, another Secret as backup, a faked record): refused, nothing written", ["trust::a_forged_journal_is_refused_with_no_write"]),
    ("Trust", "--resume / --abort show a plan, honour --dry-run and --yes", ["rotate::interrupted_rotation_is_finished_with_resume", "rotate::interrupted_rotation_is_found_and_undone_with_abort"]),
    ("Trust", "--abort while another run still holds the journal: refused", ["rotate::a_second_rotation_while_one_is_under_way_changes_nothing"]),
    ("Trust", "after an automatic rollback, an unrelated Secret's revision stays exact", ["trust::after_an_automatic_rollback_an_unrelated_secret_keeps_its_exact_revision"]),
    ("Trust", "a stale SealedSecret file: conflict (exit 7), nothing reverted", ["rotate_sealed::a_stale_sealed_file_is_a_conflict_not_a_revert"]),
    ("Trust", "more SealedSecrets than one LIST page: every unsealing failure reported", ["verify::every_unsealing_failure_is_reported_past_one_page"]),
    ("Concurrency", "two rotations of the same Secret at once", ["rotate::a_second_rotation_while_one_is_under_way_changes_nothing"]),
    ("Concurrency", "a human edit between plan and apply", ["interactive::an_edit_between_plan_and_confirmation_is_never_overwritten"]),
    ("Concurrency", "the Deployment scaled and edited during its rollout", ["faults::a_deployment_scaled_and_edited_during_its_rollout_still_completes"]),
    ("Concurrency", "many rollouts at once, bounded by --max-parallel", ["rotate::concurrent_rollouts_with_different_readiness_and_max_parallel"]),
    ("Bad input", "kubeconfig: missing, malformed (not echoed), unknown context, unreachable server", ["missing_kubeconfig_is_a_clear_config_error", "malformed_kubeconfig_does_not_echo_its_content", "unknown_context_names_the_context_and_the_fix", "unreachable_server_exits_4_and_names_it", "kubeconfig_list_skips_missing_files_like_kubectl"]),
    ("Bad input", "expired or revoked token, invalid Secret/key names", ["limits::rejected_credentials_and_invalid_names_change_nothing"]),
    ("Bad input", "bad flags, generators and durations", ["bad_flags_are_usage_errors", "rotate::dry_run_and_missing_yes_change_nothing"]),
    ("Bad input", "broken manifests, garbage and expired certificates, tampered ciphertext", ["seal::bad_certificates_and_inputs_are_clear_errors", "seal::an_expired_certificate_is_said_before_sealing", "sealed_upkeep::files_are_validated_and_re_encrypted_with_the_newest_key_keeping_their_format"]),
    ("Bad input", "non-UTF-8, binary, empty and 180 KB values kept byte for byte", ["seal::the_controller_unseals_exactly_the_original_bytes_in_every_scope", "rollback::rollback_restores_exact_bytes_restarts_consumers_and_can_itself_be_rolled_back"]),
    ("Bad input", "values over the 1 MiB Secret limit refused before any write", ["domain::plan::tests::secrets_over_one_mebibyte_are_refused_before_writing"]),
    ("Bad input", "3,000 keys in one Secret: rotate, diff, list, audit", ["limits::a_secret_with_thousands_of_keys_is_rotated_diffed_and_listed"]),
    ("Bad input", "wrong scope / name for a SealedSecret", ["seal::the_controller_unseals_exactly_the_original_bytes_in_every_scope", "seal::kubeseal_files_are_opened_by_unseal_and_extended_by_merge_into"]),
    ("Bad input", "parsers under random input (.env, manifests, sealed values, SealedSecret files, certificates): never a panic, errors never quote the input", ["domain::fuzz::tests::*"]),
    ("Inputs", ".env values literal (${VAR}, pa$word, quotes) through seal and the controller; a key without '=' refused", ["seal::env_file_values_are_sealed_literally_never_from_the_environment", "domain::env_file::tests::*"]),
    ("Inputs", "/dev/urandom and an endless pipe refused, never waited on", ["endless_inputs_are_refused_not_waited_on", "files::tests::reads_are_bounded"]),
    ("Inputs", "an http certificate URL refused unless asked; https checked against the system trust store and never redirected to http; two clusters with one context name never share a cached certificate; RSA under 2048 bits refused", ["seal::bad_certificates_and_inputs_are_clear_errors", "seal::two_clusters_with_the_same_context_name_never_share_a_cached_certificate", "domain::seal::tests::certificates_under_2048_bit_rsa_are_refused", "certificate_urls_are_https_from_the_trust_store_and_never_redirected_to_http"]),
    ("Inputs", "a controller name with '/' refused before any request", ["a_controller_name_that_is_not_a_kubernetes_name_is_refused_before_any_request"]),
    ("No leak", "a misbehaving exec credential plugin: named, its output never shown", ["a_misbehaving_exec_credential_plugin_never_shows_what_it_printed"]),
    ("No leak", "unseal on a terminal needs --show-secret; --from-stdin on a terminal is hidden and asked twice", ["interactive::unseal_on_a_terminal_needs_show_secret", "interactive::from_stdin_on_a_terminal_is_read_hidden_and_asked_twice"]),
    ("No leak", "--show-secret prints no unchanged line", ["domain::diff::tests::show_secret_prints_only_the_lines_that_differ"]),
    ("No leak", "an OSC 52 / CSI sequence in an annotation never reaches the terminal", ["trust::escape_sequences_in_cluster_strings_never_reach_the_terminal"]),
    ("Outputs", "a symlink planted at the temporary name leaves its target untouched; modes kept", ["files::tests::writes_replace_atomically_keep_the_mode_and_never_follow_a_planted_symlink"]),
    ("Outputs", "--dry-run writes no file (seal --merge-into, seal --edit, completion)", ["dry_run_writes_no_file"]),
    ("Outputs", "reuse decided by the whole keyed digest, not the printed 32 bits", ["domain::audit::tests::reuse_is_decided_by_the_whole_keyed_digest_not_the_printed_fingerprint"]),
    ("Faults", "verify --fix whose restart fails: exit 11, no Secret changed", ["verify::a_fix_whose_rollout_fails_says_so_with_its_own_exit_code"]),
    ("RBAC", "the documented roles are enough for every command", ["rbac::the_documented_role_is_enough_for_every_command"]),
    ("RBAC", "a missing permission fails before the first write, and is named", ["rotate::forbidden_restart_fails_before_any_write", "verify::a_user_without_cluster_wide_list_gets_a_clear_error"]),
    ("No leak", "RUST_LOG=trace prints no value", ["verify::trace_logging_prints_nothing_secret"]),
    ("No leak", "typed values never on the terminal (PTY)", ["interactive::interactive_rotation_with_a_typed_value_and_progress_bars", "interactive::interactive_seal_never_echoes_the_typed_value"]),
]

TEST_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)")


def results(*logs):
    found = {}
    for log in logs:
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                m = TEST_LINE.match(line)
                if m:
                    found[m.group(1)] = m.group(2)
    return found


def records(name):
    path = RUN / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def status(tests, found):
    matched = []
    for test in tests:
        if test.endswith("*"):
            matched += [r for n, r in found.items() if n.startswith(test[:-1])]
        else:
            matched.append(found.get(test, "not run"))
    if not matched or "not run" in matched:
        return "not run"
    if "FAILED" in matched:
        return "FAILED"
    return f"passed ({len(matched)} {'test' if len(matched) == 1 else 'tests'})"


def main():
    e2e = results(RUN / "e2e.log")
    found = {**results(RUN / "unit.log"), **e2e}
    if not found:
        sys.exit("reliability-report: no test logs in target/reliability (run make unit e2e first)")
    outcomes = {r["test"]: f"{r['fault']}: {r['outcome']}" for r in records("faults.jsonl")}
    lines = [
        "# Reliability and security: what was checked, and the result",
        "",
        f"Generated by `scripts/reliability-report.py` from the run of {datetime.date.today()} "
        "(`make test`, and `make test-load` for the last section) on the local test bed: a real "
        "kube-apiserver, etcd, controller-manager and scheduler with kwok, and the real Sealed "
        "Secrets controller. Faults are injected at the pause points of a debug build "
        "(`src/failpoint.rs`: *backed-up* = backups made, nothing written; *written* = new data "
        "and journal written, no restart yet). An unreachable API server is simulated by cutting a "
        "TCP proxy between the tool and the API server (open connections reset, new ones closed), "
        "so the rest of the suite keeps its cluster; a slow or failing one by an HTTP proxy "
        "(`scripts/testbed/fault-proxy.py`) that delays requests, answers some itself with 500/503, "
        "or forwards them and loses the answer.",
        "",
        f"No leak, anywhere: every one of the {len(e2e)} end-to-end tests plants random canary values "
        "in its Secrets and checks that neither they nor their base64 form appear in any stdout or "
        "stderr (or PTY screen) of the tool, except where `unseal` or `--show-secret` was asked.",
        "",
    ]
    sections = {}
    for row in SCENARIOS:
        sections.setdefault(row[0], []).append(row)
    for sect, rows in sections.items():
        lines += [f"## {sect}", "", "| scenario | result | outcome observed | tests |", "|---|---|---|---|"]
        for _, question, tests in rows:
            outcome = "; ".join(outcomes[t] for t in tests if t in outcomes)
            names = ", ".join(f"`{t}`" for t in tests)
            lines.append(f"| {question} | {status(tests, found)} | {outcome} | {names} |")
        lines.append("")
    load = records("load.jsonl")
    lines += ["## Load (`make test-load`)", ""]
    if load:
        lines += ["| scenario | outcome observed |", "|---|---|"]
        lines += [f"| {r['scenario']} | {r['outcome']} |" for r in load]
    else:
        lines.append("Not run in this run (`make test-load`).")
    lines += ["", "## Older Kubernetes releases (`make test-compat`)", ""]
    compat = sorted(RUN.glob("compat-*.log"))
    if compat:
        lines += ["| control plane | e2e subset | result |", "|---|---|---|"]
        for log in compat:
            ran = results(log)
            failed = sorted(n for n, r in ran.items() if r == "FAILED")
            modules = sorted({n.split("::")[0] for n in ran})
            result = f"FAILED: {', '.join(failed)}" if failed else f"passed ({len(ran)} tests)"
            lines.append(f"| Kubernetes {log.stem.removeprefix('compat-')} | {', '.join(modules)} | {result} |")
    else:
        lines.append("Not run in this run (`make test-compat`).")
    lines += [
        "",
        "Timings against kubectl at the same scale are `make bench`'s (bench/results.md).",
        "",
        f"Totals: {sum(1 for r in found.values() if r == 'ok')} tests passed, "
        f"{sum(1 for r in found.values() if r == 'FAILED')} failed.",
        "",
    ]
    (ROOT / "docs" / "reliability.md").write_text("\n".join(lines))
    print("reliability-report: wrote docs/reliability.md", file=sys.stderr)


if __name__ == "__main__":
    main()
