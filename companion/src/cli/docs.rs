//! `deckcast generate-docs DIR` (hidden, for packaging): the man pages and shell completions,
//! generated from the clap definitions so they never drift from `--help`.
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::args::Cli;

/// Writes `DIR/man1/deckcast*.1` (one page per command) and `DIR/completions/` for bash, zsh
/// and fish.
pub fn generate(dir: &Path) -> anyhow::Result<()> {
    let man = dir.join("man1");
    std::fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("writing the man pages into {}", man.display()))?;
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "deckcast", &completions)
            .with_context(|| format!("writing the {shell} completions"))?;
    }
    Ok(())
}
