//! `deckcast status`: what OBS, obs-websocket and the plugin report.
use deckcast_protocol::PROTOCOL_VERSION;
use deckcast_protocol::version::{GetVersion, VersionInfo};
use serde::Serialize;

use crate::obs::{ConnectOptions, Connector, LinkError, ObsVersions};

/// Everything `deckcast status` shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// OBS and obs-websocket.
    pub obs: ObsVersions,
    /// The plugin's GetVersion answer.
    pub plugin: VersionInfo,
    /// The protocol version this companion speaks.
    pub companion_protocol_version: u32,
}

impl Status {
    /// Connects, reads the versions and asks the plugin.
    pub async fn fetch(opts: &ConnectOptions) -> Result<Self, LinkError> {
        let link = Connector::Ws(opts.clone()).connect().await?;
        let obs = link.versions().await?;
        let plugin = link.call(&GetVersion {}).await?;
        Ok(Self {
            obs,
            plugin,
            companion_protocol_version: PROTOCOL_VERSION,
        })
    }

    /// A warning when plugin and companion speak different protocol versions.
    pub fn protocol_warning(&self) -> Option<String> {
        (self.plugin.protocol_version != self.companion_protocol_version).then(|| {
            format!(
                "the plugin speaks vendor protocol {} but this companion speaks {}: update the older one",
                self.plugin.protocol_version, self.companion_protocol_version
            )
        })
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = format!(
            "OBS Studio       {}\nobs-websocket    {} (RPC {})\nDeckcast plugin  {} (vendor protocol {}, libobs {})\n",
            self.obs.obs_studio,
            self.obs.obs_websocket,
            self.obs.rpc,
            self.plugin.plugin_version,
            self.plugin.protocol_version,
            self.plugin.libobs_version,
        );
        if let Some(w) = self.protocol_warning() {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
