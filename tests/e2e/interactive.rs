//! The interactive flows, driven through a real pseudo-terminal as a person would type them:
//! key selection, hidden value entry, confirmation, live progress bars, and an edit made by
//! someone else between the plan and the "yes".

use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Session};
use serde_json::json;

use crate::support::{canary, cluster, deployment, exit, TestNamespace};

/// A session of `kubectl-secrets ARGS -n NS` in a terminal, keeping everything it printed.
struct Terminal {
    session: expectrl::session::OsSession,
    transcript: Vec<u8>,
}

impl Terminal {
    fn start(ns: &TestNamespace, args: &[&str]) -> Self {
        Self::start_with(ns, args, &[])
    }

    fn start_with(ns: &TestNamespace, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = args.to_vec();
        all.extend(["-n", &ns.name]);
        Self::spawn(&all, env)
    }

    /// Exactly these arguments (no namespace added).
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn_in(None, args, env)
    }

    /// The same, in folder `dir`.
    fn spawn_in(dir: Option<&std::path::Path>, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command
            .args(args)
            .env("KUBECONFIG", &cluster().admin_kubeconfig)
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied());
        let mut session = Session::spawn(command).expect("spawn in a pseudo-terminal");
        session.set_expect_timeout(Some(Duration::from_secs(60)));
        Terminal {
            session,
            transcript: Vec::new(),
        }
    }

    fn expect(&mut self, text: &str) {
        let found = self.session.expect(text).unwrap_or_else(|e| {
            panic!(
                "waiting for {text:?}: {e}\nso far:\n{}",
                String::from_utf8_lossy(&self.transcript)
            )
        });
        self.transcript.extend_from_slice(found.before());
        self.transcript.extend_from_slice(text.as_bytes());
    }

    /// Type at a hidden prompt as a person would: after the prompt has turned echo off.
    fn type_hidden(&mut self, text: &str) {
        std::thread::sleep(Duration::from_millis(300));
        self.send(&format!("{text}\r"));
    }

    /// Keys at human speed: a prompt is drawn a moment before it reads the keyboard.
    fn send(&mut self, keys: &str) {
        std::thread::sleep(Duration::from_millis(150));
        self.session.send(keys).expect("type into the terminal");
    }

    /// Wait for the end; the exit code and the whole screen output.
    fn finish(mut self) -> (i32, String) {
        let rest = self.session.expect(Eof).expect("process ends");
        self.transcript.extend_from_slice(rest.as_bytes());
        let status = self.session.get_process().wait().expect("exit status");
        let code = match status {
            expectrl::process::unix::WaitStatus::Exited(_, code) => code,
            other => panic!("unexpected end: {other:?}"),
        };
        (code, String::from_utf8_lossy(&self.transcript).into_owned())
    }
}

fn assert_not_on_screen(screen: &str, values: &[&str]) {
    for value in values {
        assert!(
            !screen.contains(value),
            "a secret value appeared on the terminal:\n{screen}"
        );
    }
}

#[tokio::test]
async fn interactive_rotation_with_a_typed_value_and_progress_bars() {
    let ns = TestNamespace::new("interactive").await;
    let (api_key, token, typed) = (canary("api"), canary("token"), canary("typed"));
    ns.secret("app", &[("API_KEY", &api_key), ("TOKEN", &token)]).await;
    ns.create_deployment(deployment(
        "api",
        2,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;

    let mut term = Terminal::start(&ns, &["rotate", "app"]);
    term.expect("Keys of");
    term.send(" "); // select the first key, API_KEY
    term.send("\r");
    term.expect("New value of API_KEY");
    term.send("\x1b[B"); // down: "type it"
    term.send("\r");
    term.expect("Type the new value of API_KEY (hidden)");
    term.type_hidden(&typed);
    term.expect("Repeat it");
    term.type_hidden(&typed);
    term.expect("Apply this plan?");
    term.send("y");
    term.expect("Verifying the consumers");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("rotated (typed)"), "{screen}");
    assert!(
        screen.contains("deployment/api") && screen.contains("2/2"),
        "the bar shows 2/2: {screen}"
    );
    assert!(screen.contains("all "), "an overall bar: {screen}");
    assert_not_on_screen(&screen, &[&api_key, &token, &typed]);

    let data = ns.secret_data("app").await;
    assert_eq!(data["API_KEY"], typed.as_bytes(), "exactly the typed value");
    assert_eq!(data["TOKEN"], token.as_bytes());
}

#[tokio::test]
async fn an_edit_between_plan_and_confirmation_is_never_overwritten() {
    let ns = TestNamespace::new("conflict").await;
    let (value, human) = (canary("value"), canary("human-edit"));
    ns.secret("app", &[("TOKEN", &value)]).await;

    let mut term = Terminal::start(&ns, &["rotate", "app", "--key", "TOKEN", "--no-restart"]);
    term.expect("Apply this plan?");
    ns.patch_secret("app", &[("TOKEN", &human)]).await;
    term.send("y");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::CONFLICT, "exit {code}: {screen}");
    assert!(
        screen.contains("changed since it was read") && screen.contains("nothing was overwritten"),
        "{screen}"
    );
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        human.as_bytes(),
        "the human's edit stands"
    );
    let names = ns.secret_names().await;
    assert!(
        !names.iter().any(|n| n.starts_with("app.backup-")),
        "no backup left for a change that never happened: {names:?}"
    );
    assert_not_on_screen(&screen, &[&value, &human]);
}

#[tokio::test]
async fn declining_the_plan_changes_nothing() {
    let ns = TestNamespace::new("decline").await;
    let value = canary("decline");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let mut term = Terminal::start(&ns, &["rotate", "app", "--key", "TOKEN"]);
    term.expect("Apply this plan?");
    term.send("n");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("Cancelled: nothing was changed"), "{screen}");
    assert_eq!(ns.secret_data("app").await["TOKEN"], value.as_bytes());
    assert_not_on_screen(&screen, &[&value]);
}

#[tokio::test]
async fn colours_on_a_terminal_and_none_with_no_color() {
    let ns = TestNamespace::new("colour").await;
    let value = canary("colour");
    ns.secret("app", &[("TOKEN", &value)]).await;
    ns.create_deployment(deployment(
        "api",
        1,
        json!({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "app", "key": "missing"}}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;

    let (code, coloured) = Terminal::start(&ns, &["verify"]).finish();
    assert_eq!(code, exit::FOUND);
    assert!(coloured.contains("\x1b["), "a terminal gets colours: {coloured:?}");
    let (code, plain) = Terminal::start_with(&ns, &["verify"], &[("NO_COLOR", "1")]).finish();
    assert_eq!(code, exit::FOUND);
    assert!(!plain.contains("\x1b["), "NO_COLOR means no escape codes: {plain:?}");
    assert!(plain.contains("missing"));
    let (code, dumb) = Terminal::start_with(&ns, &["verify"], &[("TERM", "dumb")]).finish();
    assert_eq!(code, exit::FOUND);
    assert!(!dumb.contains("\x1b["), "TERM=dumb means no escape codes: {dumb:?}");
    assert_not_on_screen(&coloured, &[&value]);
}

/// Tables as kubectl prints them: a cell is never wrapped; on a terminal a line is cut to its
/// width with '…' (the identity columns come first and stay whole); -o wide is whole.
#[tokio::test]
async fn tables_are_cut_to_the_terminal_never_wrapped() {
    let ns = TestNamespace::new("widths").await;
    let value = canary("width");
    ns.secret("chat-secrets", &[("TOKEN", &value)]).await;
    ns.create_deployment(deployment(
        "chatbox-websocket",
        1,
        json!({"containers": [{"name": "c", "image": "i", "env": [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "chat-secrets", "key": "missing"}}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "chatbox-websocket").await;
    for columns in [80u16, 120] {
        for (args, whole) in [(vec!["verify"], false), (vec!["verify", "-o", "wide"], true)] {
            let mut term = Terminal::start_with(&ns, &args, &[("NO_COLOR", "1")]);
            term.session.get_process_mut().set_window_size(columns, 40).unwrap();
            let (code, screen) = term.finish();
            assert_eq!(code, exit::FOUND, "{screen}");
            let table: Vec<&str> = screen.lines().take_while(|l| !l.trim().is_empty()).collect();
            let row = table
                .iter()
                .find(|l| l.starts_with("deployment/chatbox-websocket "))
                .unwrap_or_else(|| panic!("the workload's name whole on one line at {columns}: {screen}"));
            assert!(row.contains("missing"), "{row}");
            let longest = table
                .iter()
                .map(|l| l.trim_end_matches('\r').chars().count())
                .max()
                .unwrap();
            if whole {
                assert!(row.contains("does not have"), "-o wide is whole: {row}");
            } else {
                assert!(longest <= usize::from(columns), "{columns} columns: {screen}");
            }
            assert_eq!(
                table.len(),
                2,
                "one header and one row, nothing wrapped at {columns}: {screen}"
            );
            assert_not_on_screen(&screen, &[&value]);
        }
    }
}

#[tokio::test]
async fn interactive_seal_never_echoes_the_typed_value() {
    let ns = TestNamespace::new("seal-tty").await;
    let typed = canary("typed-seal");
    let mut term = Terminal::start(&ns, &["seal"]);
    term.expect("Name of the Secret to seal");
    term.send("app\r");
    term.expect("Key (empty to finish)");
    term.send("TOKEN\r");
    term.expect("New value of TOKEN");
    term.send("\x1b[B"); // down: "type it"
    term.send("\r");
    term.expect("Type the new value of TOKEN (hidden)");
    term.type_hidden(&typed);
    term.expect("Repeat it");
    term.type_hidden(&typed);
    term.expect("Key (empty to finish)");
    term.send("\r");
    term.expect("kind: SealedSecret");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(
        screen.contains(&format!("only {}/app can unseal this", ns.name)),
        "{screen}"
    );
    assert!(screen.contains("TOKEN:"), "{screen}");
    assert_not_on_screen(&screen, &[&typed]);
}

#[tokio::test]
async fn from_stdin_on_a_terminal_is_read_hidden_and_asked_twice() {
    let ns = TestNamespace::new("stdin-tty").await;
    let (old, new) = (canary("old"), canary("typed-on-stdin"));
    ns.secret_with_consumer("api-keys", "openai", &old, "backend").await;
    let mut term = Terminal::start(&ns, &["rotate", "api-keys", "--from-stdin", "openai", "--yes"]);
    term.expect("Type the new value of openai (hidden)");
    term.type_hidden(&new);
    term.expect("Repeat it");
    term.type_hidden(&new);
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert_eq!(ns.secret_data("api-keys").await["openai"], new.as_bytes());
    assert_not_on_screen(&screen, &[&old, &new]);
}

#[tokio::test]
async fn unseal_on_a_terminal_needs_show_secret() {
    let ns = TestNamespace::new("unseal-tty").await;
    let value = canary("sealed-value");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::support::make_certificate(
        "sealed-secrets",
        &["sealed-secrets"],
        "20250101000000Z",
        "20350101000000Z",
    );
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let sealed = ns.run(&[
        "seal",
        "app",
        "--from-literal",
        &format!("k={value}"),
        "--cert",
        cert_path.to_str().unwrap(),
    ]);
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, &sealed.stdout).unwrap();
    let args = [
        "unseal",
        file.to_str().unwrap(),
        "--private-key",
        key_path.to_str().unwrap(),
    ];

    let (code, screen) = Terminal::start(&ns, &args).finish();
    assert_eq!(code, exit::USAGE, "{screen}");
    assert!(screen.contains("--show-secret"), "{screen}");
    assert_not_on_screen(&screen, &[&value]);

    let mut shown: Vec<&str> = args.to_vec();
    shown.push("--show-secret");
    let (code, screen) = Terminal::start(&ns, &shown).finish();
    assert_eq!(code, exit::OK, "{screen}");
    use base64::Engine as _;
    assert!(
        screen.contains(&base64::engine::general_purpose::STANDARD.encode(&value)),
        "asked for: the Secret is printed"
    );
    // To a pipe, as ever.
    let piped = ns.run(&args);
    assert_eq!(piped.code, exit::OK, "{piped:?}");
}

#[tokio::test]
async fn an_edit_in_a_terminal_asks_before_writing_and_ctrl_c_in_the_editor_leaves_nothing() {
    use crate::edit::{secret_with_consumer, Editor};
    let ns = TestNamespace::new("edit-tty").await;
    let (token, new) = (canary("token"), canary("new"));
    secret_with_consumer(&ns, &[("TOKEN", &token)]).await;

    let editor = Editor::new(&format!("sed -i 's/^  TOKEN: .*/  TOKEN: \"{new}\"/' \"$1\""));
    let command = editor.command();
    let mut term = Terminal::start_with(&ns, &["edit", "app"], &[("KUBE_EDITOR", command.as_str())]);
    term.expect("Apply this plan?");
    term.send("y");
    term.expect("Verifying the consumers");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("changed in the editor"), "{screen}");
    assert_not_on_screen(&screen, &[&token, &new]);
    assert_eq!(ns.secret_data("app").await["TOKEN"], new.as_bytes());
    editor.assert_private_and_gone();

    // Ctrl-C while the editor is open: exit 130, the file and its folder gone, nothing written.
    let before = ns.get_secret("app").await.unwrap();
    let editor = Editor::new("sleep 60");
    let command = editor.command();
    let mut term = Terminal::start_with(&ns, &["edit", "app"], &[("KUBE_EDITOR", command.as_str())]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while editor.seen().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the editor never opened");
        std::thread::sleep(Duration::from_millis(100));
    }
    term.send("\x03");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::INTERRUPTED, "{screen}");
    editor.assert_private_and_gone();
    assert_eq!(
        ns.get_secret("app").await.unwrap().metadata.resource_version,
        before.metadata.resource_version
    );
    assert_not_on_screen(&screen, &[&token, &new]);
}

#[tokio::test]
async fn a_secret_name_left_out_is_picked_from_a_list_filtered_by_typing() {
    use crate::edit::{secret_with_consumer, Editor};
    let ns = TestNamespace::new("picker").await;
    let (token, other, new) = (canary("token"), canary("other"), canary("new"));
    secret_with_consumer(&ns, &[("TOKEN", &token)]).await;
    ns.secret("zeta-keys", &[("OTHER", &other)]).await;

    // history: the list shows each Secret with its type and consumers; typing filters it.
    let mut term = Terminal::start(&ns, &["history"]);
    term.expect("Secret whose history to show in namespace");
    term.expect("1 consumer");
    term.send("zeta");
    term.send("\r");
    term.expect("REVISION");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(
        screen.contains("app ") && screen.contains("Opaque"),
        "both listed: {screen}"
    );
    assert!(screen.contains("no consumers"), "{screen}");
    assert_not_on_screen(&screen, &[&token, &other]);

    // edit: picked, then the editor, the plan and the question as usual.
    let editor = Editor::new(&format!("sed -i 's/^  TOKEN: .*/  TOKEN: \"{new}\"/' \"$1\""));
    let command = editor.command();
    let mut term = Terminal::start_with(&ns, &["edit"], &[("KUBE_EDITOR", command.as_str())]);
    term.expect("Secret to edit in namespace");
    term.send("app");
    term.send("\r");
    term.expect("Apply this plan?");
    term.send("y");
    term.expect("Verifying the consumers");
    let (code, screen) = term.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert_eq!(ns.secret_data("app").await["TOKEN"], new.as_bytes());
    assert_eq!(ns.secret_data("zeta-keys").await["OTHER"], other.as_bytes());
    assert_not_on_screen(&screen, &[&token, &other, &new]);
    editor.assert_private_and_gone();
}

#[tokio::test]
async fn verify_watch_redraws_the_table_as_the_cluster_changes_and_ctrl_c_ends_it() {
    let ns = TestNamespace::new("watch-tty").await;
    let (value, changed) = (canary("watch"), canary("watch-changed"));
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let mut terminal = Terminal::start(&ns, &["verify", "--watch"]);
    terminal.expect(&format!("Watching namespace {} (Ctrl-C stops): as of", ns.name));
    terminal.expect("1 ok, 0 stale");

    // Someone changes the Secret (a second after the pod started: times are whole seconds):
    // the row turns stale, redrawn in place.
    crate::support::next_second().await;
    ns.patch_secret("app", &[("TOKEN", &changed)]).await;
    terminal.expect("last change at");
    terminal.expect("0 ok, 1 stale");
    // The restart brings it back to ok.
    let fix = ns.run(&["verify", "--fix", "--yes"]);
    assert_eq!(fix.code, exit::OK, "{fix:?}");
    terminal.expect("1 ok, 0 stale");

    // A second change, then Ctrl-C: the exit code is the last verdict's (stale: 1).
    crate::support::next_second().await;
    ns.patch_secret("app", &[("TOKEN", &value)]).await;
    terminal.expect("0 ok, 1 stale");
    terminal.send("\x03");
    terminal.expect("Stopped watching.");
    let (code, screen) = terminal.finish();
    assert_eq!(code, exit::FOUND, "{screen}");
    assert!(screen.contains("\x1b[H\x1b[2J"), "redrawn in place: {screen:?}");
    assert_not_on_screen(&screen, &[&value, &changed]);
    fix.assert_no_leak([&value, &changed]);
}

#[tokio::test]
async fn a_namespace_or_context_flag_without_a_value_opens_a_picker() {
    let ns = TestNamespace::new("pick-ns").await;
    let value = canary("pick-ns");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;

    // `-n` alone: the namespaces, filtered by typing, the one picked used for this run.
    let mut terminal = Terminal::spawn(&["verify", "-n"], &[]);
    terminal.expect("Namespace in context");
    terminal.send(&ns.name);
    terminal.expect(&ns.name);
    terminal.send("\r");
    terminal.expect("deployment/api");
    let (code, screen) = terminal.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("1 workload"), "{screen}");
    assert_not_on_screen(&screen, &[&value]);

    // `--context` alone: the kubeconfig's contexts, the current one marked; nothing written to
    // the kubeconfig.
    let before = std::fs::read(&cluster().admin_kubeconfig).unwrap();
    let mut terminal = Terminal::start(&ns, &["list", "--context"]);
    terminal.expect("(current)");
    terminal.send("\r");
    terminal.expect("app");
    let (code, screen) = terminal.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert_eq!(
        std::fs::read(&cluster().admin_kubeconfig).unwrap(),
        before,
        "the kubeconfig is unchanged"
    );
    assert_not_on_screen(&screen, &[&value]);
}

#[tokio::test]
async fn seal_from_secret_and_unseal_pick_what_is_left_out() {
    use base64::Engine as _;
    let ns = TestNamespace::new("pick-seal").await;
    let value = canary("pick-seal");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::support::make_certificate(
        "sealed-secrets",
        &["sealed-secrets"],
        "20250101000000Z",
        "20350101000000Z",
    );
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();

    // seal --from-secret without NAME: the namespace's Secrets to pick from.
    let mut terminal = Terminal::start(&ns, &["seal", "--from-secret", "--cert", cert_path.to_str().unwrap()]);
    terminal.expect("Secret to seal in namespace");
    terminal.send("\r");
    terminal.expect("kind: SealedSecret");
    let (code, screen) = terminal.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert_not_on_screen(&screen, &[&value]);
    let start = screen.find("apiVersion: bitnami.com").expect("the SealedSecret");
    let sealed: String = screen[start..].replace("\r\n", "\n");
    std::fs::create_dir_all(dir.path().join("sealed")).unwrap();
    std::fs::write(dir.path().join("sealed/app.yaml"), &sealed).unwrap();
    std::fs::write(dir.path().join("notes.yaml"), "just: notes\n").unwrap();

    // unseal without FILE: the SealedSecret files under the folder (the notes are not one).
    let args = ["unseal", "--private-key", "key.pem", "--show-secret"];
    let mut terminal = Terminal::spawn_in(Some(dir.path()), &args, &[]);
    terminal.expect("SealedSecret file to unseal");
    terminal.expect(&format!("sealed/app.yaml  ({}/app)", ns.name));
    terminal.send("\r");
    terminal.expect("kind: Secret");
    let (code, screen) = terminal.finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(!screen.contains("notes.yaml"), "{screen}");
    assert!(
        screen.contains(&base64::engine::general_purpose::STANDARD.encode(&value)),
        "asked for with --show-secret: {screen}"
    );
}
