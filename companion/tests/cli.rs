//! The `deckcast` binary's command line without OBS: version, usage errors, unreachable OBS.
use std::net::TcpListener;
use std::process::{Command, Output};

fn deckcast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deckcast"))
        .args(args)
        .env_remove("DECKCAST_OBS_PASSWORD")
        .env_remove("DECKCAST_OBS_PORT")
        .env_remove("DECKCAST_OBS_HOST")
        .output()
        .expect("running deckcast")
}

#[test]
fn version_matches_the_workspace_version() {
    let out = deckcast(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("deckcast {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn status_against_a_closed_port_fails_with_exit_3_and_says_why() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = deckcast(&["status", "--port", &port.to_string()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach obs-websocket at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_password_is_never_accepted_on_the_command_line() {
    let out = deckcast(&["status", "--password", "secret-in-argv"]);
    assert_eq!(out.status.code(), Some(2), "clap usage error expected");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--password"), "{err}");
}
