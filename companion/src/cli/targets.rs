//! `deckcast targets ...` and `deckcast key ...`: the app's target operations, run once against
//! OBS (no `serve` needed), recorded in the companion's database like the service's own.
use std::sync::Arc;

use anyhow::Context;
use deckcast_companion::app::{App, Role};
use deckcast_companion::keys::{self, Keys};
use deckcast_companion::live::wire_name;
use deckcast_companion::obs::Connector;
use deckcast_companion::store::{Db, Store};
use deckcast_protocol::targets::{CreateTarget, UpdateTarget};

use super::args::{DataArgs, KeyAction, ObsArgs, TargetsAction};
use super::{blocking, default_data_dir, print_json_or, read_secret};

/// An app for one command, connected to OBS.
async fn connected_app(obs: &ObsArgs, data: &DataArgs, keys: Keys) -> anyhow::Result<Arc<App>> {
    let dir = data.data_dir.clone().unwrap_or_else(default_data_dir);
    deckcast_companion::store::create_private_dir(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = deckcast_companion::serve::database_path(&dir);
    let store = tokio::task::spawn_blocking(move || Store::open(&path)).await??;
    let app = App::new(
        Role::Command,
        Db::new(store),
        keys,
        deckcast_companion::web::http_client(),
    );
    let link = Connector::Ws(obs.resolve()?).connect().await?;
    app.set_link(Some(Arc::new(link)));
    Ok(app)
}

/// `deckcast targets ...`.
pub async fn command(
    obs: ObsArgs,
    data: DataArgs,
    action: TargetsAction,
    json: bool,
) -> anyhow::Result<()> {
    // Read a key before connecting, so the prompt is not interleaved with connection errors.
    let key = match &action {
        TargetsAction::Add {
            key_stdin: true, ..
        }
        | TargetsAction::Edit {
            key_stdin: true, ..
        } => Some(read_secret("the stream key")?.context("the stream key is empty")?),
        _ => None,
    };
    let keys = tokio::task::spawn_blocking(Keys::open).await?;
    let app = connected_app(&obs, &data, keys).await?;
    match action {
        TargetsAction::List => {
            let list = app.target_list().await?;
            print_json_or(json, &list, || {
                let mut out = String::new();
                for t in &list.targets {
                    out.push_str(&format!(
                        "{:<14} {:<24} {:<9} {:<12} key {}\n",
                        t.config.id,
                        t.config.name,
                        wire_name(&t.config.platform),
                        wire_name(&t.state),
                        if t.has_key { "set" } else { "missing" }
                    ));
                }
                if list.targets.is_empty() {
                    out.push_str("no targets\n");
                }
                out
            });
        }
        TargetsAction::Add {
            name,
            platform,
            server,
            disabled,
            ..
        } => {
            let reply = app
                .create_target(CreateTarget {
                    name,
                    platform: platform.into(),
                    server,
                    key: key.as_ref().map(|k| k.expose().to_owned()),
                    enabled: Some(!disabled),
                    ..CreateTarget::default()
                })
                .await?;
            print_json_or(json, &reply, || {
                format!("created {}\n", reply.target.config.id)
            });
        }
        TargetsAction::Edit {
            id,
            name,
            server,
            enabled,
            ..
        } => {
            let reply = app
                .update_target(UpdateTarget {
                    id,
                    name,
                    server,
                    enabled,
                    key: key.as_ref().map(|k| k.expose().to_owned()),
                    ..UpdateTarget::default()
                })
                .await?;
            print_json_or(json, &reply, || {
                format!("updated {}\n", reply.target.config.id)
            });
        }
        TargetsAction::Rm { id } => {
            app.delete_target(&id).await?;
            print_json_or(json, &Deleted { deleted: &id }, || {
                format!("deleted {id}\n")
            });
        }
        TargetsAction::Start { id } => {
            let reply = app.start_target(&id).await?;
            print_json_or(json, &reply, || {
                format!("{id}: {}\n", wire_name(&reply.target.state))
            });
        }
        TargetsAction::Stop { id } => {
            let reply = app.stop_target(&id).await?;
            print_json_or(json, &reply, || {
                format!("{id}: {}\n", wire_name(&reply.target.state))
            });
        }
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Deleted<'a> {
    deleted: &'a str,
}

/// `deckcast key ...`.
pub async fn key(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::ObsPassword { clear: true } => {
            let keys = tokio::task::spawn_blocking(Keys::open).await?;
            blocking(move || keys.delete(keys::OBS_PASSWORD)).await?;
            eprintln!("removed from the keyring");
            Ok(())
        }
        KeyAction::ObsPassword { clear: false } => {
            let p = read_secret("the obs-websocket password")?.context("the password is empty")?;
            let keys = tokio::task::spawn_blocking(Keys::open).await?;
            blocking(move || keys.set(keys::OBS_PASSWORD, &p)).await?;
            eprintln!("stored in the keyring");
            Ok(())
        }
        KeyAction::Set { obs, data, target } => {
            let key = read_secret("the stream key")?.context("the stream key is empty")?;
            let keys = tokio::task::spawn_blocking(Keys::open).await?;
            let app = connected_app(&obs, &data, keys).await?;
            app.set_key(&target, key).await?;
            eprintln!("stored in the keyring and given to the plugin");
            Ok(())
        }
    }
}
