//! What the targets worker is asked to do: one [`Command`] variant per targets request of the
//! protocol, carrying the decoded request and where its typed answer goes.
use std::sync::mpsc::SyncSender;

use deckcast_protocol::targets::{
    CreateTarget, DeleteEncoderConfig, DeleteTarget, ExportTargets, GetTarget, GetTargetHealth,
    ImportTargets, ListTargets, SetStreamKey, SetTargetVideoBitrate, StartAllTargets, StartTarget,
    StopAllTargets, StopTarget, UpdateEncoderConfig, UpdateTarget,
};
use deckcast_protocol::{Error, Request};

use super::engine::Engine;
use super::host::{Host, Level};

/// Where a command's answer goes: a waiting caller, or nobody (hotkeys; failures are logged).
pub type Reply<T> = Option<SyncSender<Result<T, Error>>>;

/// The engine's handler of request `R`.
pub trait Handle<R: Request> {
    /// Runs the request.
    fn handle(&mut self, request: R) -> Result<R::Reply, Error>;
}

/// A request the targets worker answers.
pub trait TargetsRequest: Request {
    /// The command carrying this request and its answer's destination.
    fn into_command(self, reply: Reply<Self::Reply>) -> Command;
}

macro_rules! commands {
    ($($req:ident),* $(,)?) => {
        /// A decoded targets request and where its answer goes.
        #[derive(Debug)]
        pub enum Command {
            $(
                #[doc = concat!("`", stringify!($req), "`.")]
                $req($req, Reply<<$req as Request>::Reply>),
            )*
        }

        $(
            impl TargetsRequest for $req {
                fn into_command(self, reply: Reply<Self::Reply>) -> Command {
                    Command::$req(self, reply)
                }
            }
        )*

        impl Command {
            /// Runs the command on the engine and delivers the answer.
            pub fn run<H: Host>(self, engine: &mut Engine<H>) {
                match self {
                    $(
                        Command::$req(request, reply) => {
                            let answer = Handle::<$req>::handle(engine, request);
                            deliver::<$req, H>(engine, answer, reply);
                        }
                    )*
                }
            }
        }

        /// The wire dispatch the unit tests drive the engine with (the plugin's router does the
        /// same through the worker): decodes request `name`, runs it, encodes the answer.
        #[cfg(test)]
        pub fn handle_wire<H: Host>(
            engine: &mut Engine<H>,
            name: &str,
            data: serde_json::Value,
        ) -> serde_json::Value {
            use deckcast_protocol::{decode_request, encode_reply};
            $(
                if name == <$req as Request>::NAME {
                    return encode_reply(
                        decode_request::<$req>(data)
                            .and_then(|r| Handle::<$req>::handle(engine, r)),
                    );
                }
            )*
            Error::invalid_request(format!("unknown request {name:?}")).to_wire()
        }
    };
}

commands!(
    ListTargets,
    GetTarget,
    CreateTarget,
    UpdateTarget,
    DeleteTarget,
    SetStreamKey,
    StartTarget,
    StopTarget,
    StartAllTargets,
    StopAllTargets,
    GetTargetHealth,
    UpdateEncoderConfig,
    DeleteEncoderConfig,
    ExportTargets,
    ImportTargets,
    SetTargetVideoBitrate,
);

fn deliver<R: Request, H: Host>(
    engine: &Engine<H>,
    answer: Result<R::Reply, Error>,
    reply: Reply<R::Reply>,
) {
    match reply {
        Some(tx) => {
            let _ = tx.send(answer);
        }
        None => {
            if let Err(e) = answer {
                engine
                    .host()
                    .log(Level::Warn, &format!("{}: {}", R::NAME, e.message));
            }
        }
    }
}
