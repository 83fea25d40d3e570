//! `deckcast analyze --eval DIR`: scores the tempo tracker on a directory of WAV files whose true
//! tempo `DIR/truth.csv` gives, the same way every time, beside `aubio tempo` on the same files.
//!
//! `truth.csv`: one `file,bpm` line per file (`#` starts a comment, a `file,bpm` header is
//! skipped); `bpm` is `none` for a file without a beat. The truth must come from somewhere other
//! than this tracker (the tempo a MIDI or drum-machine project declares).
//!
//! Scores per file, for Deckcast's final tempo and for aubio's: **strict** within ±0.5 BPM,
//! **Acc1** within ±4 %, **Acc2** within ±4 % of the tempo or of ×2, ×½, ×3, ×⅓, ×3⁄2 or ×⅔ of
//! it (the usual tempo-estimation measures, Acc2 widened by the ⅔ errors trackers make), and for
//! a file without a beat, whether no tempo was reported. For Deckcast also: the time to the first
//! stable reading, how far the stable readout wandered from its final value, and the real-time
//! factor.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deckcast_dsp::tempo::Correction;
use serde::Serialize;

use crate::analyze::{AnalyzeError, analyze};

/// The largest `truth.csv` read.
const MAX_TRUTH_BYTES: u64 = 1 << 20;
/// The most files one evaluation scores.
const MAX_FILES: usize = 2000;
/// How long `aubio tempo` may take on one file.
const AUBIO_TIMEOUT: Duration = Duration::from_secs(120);

/// An evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// `truth.csv` is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Truth {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line of `truth.csv` is not `file,bpm`.
    #[error("{path} line {line}: {why}")]
    TruthLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// A listed file could not be analysed.
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
}

/// One line of `truth.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    /// The WAV file, relative to the directory.
    pub file: String,
    /// The true tempo; `None`: the file has no beat.
    pub bpm: Option<f64>,
}

/// How a reported tempo compares with the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Within ±0.5 BPM.
    Strict,
    /// Within ±4 % (not strict).
    Acc1,
    /// Within ±4 % of a metrical multiple (×2, ×½, ×3, ×⅓, ×3⁄2, ×⅔).
    Acc2,
    /// Some other tempo.
    Wrong,
    /// No tempo for a file with a beat.
    NoReading,
    /// No tempo for a file without a beat: right.
    RightlyNone,
    /// A tempo for a file without a beat.
    FalseReading,
}

impl Class {
    /// Counts as Acc1 (strict included).
    pub fn acc1(self) -> bool {
        matches!(self, Class::Strict | Class::Acc1 | Class::RightlyNone)
    }

    /// Counts as Acc2 (Acc1 included).
    pub fn acc2(self) -> bool {
        self.acc1() || self == Class::Acc2
    }
}

/// The metrical multiples Acc2 allows.
const FACTORS: [f64; 6] = [2.0, 0.5, 3.0, 1.0 / 3.0, 1.5, 2.0 / 3.0];

/// Classifies `got` against `truth` (both in BPM; `None`: no tempo).
pub fn classify(truth: Option<f64>, got: Option<f64>) -> Class {
    match (truth, got) {
        (None, None) => Class::RightlyNone,
        (None, Some(_)) => Class::FalseReading,
        (Some(_), None) => Class::NoReading,
        (Some(t), Some(g)) => {
            if (g - t).abs() <= 0.5 {
                Class::Strict
            } else if (g - t).abs() <= 0.04 * t {
                Class::Acc1
            } else if FACTORS.iter().any(|f| (g - t * f).abs() <= 0.04 * t * f) {
                Class::Acc2
            } else {
                Class::Wrong
            }
        }
    }
}

/// Reads `dir/truth.csv`.
pub fn read_truth(dir: &Path) -> Result<Vec<Truth>, EvalError> {
    use std::io::Read;
    let path = dir.join("truth.csv");
    let shown = path.display().to_string();
    let io = |source| EvalError::Truth {
        path: shown.clone(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(&path)
        .map_err(io)?
        .take(MAX_TRUTH_BYTES)
        .read_to_string(&mut text)
        .map_err(io)?;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() || (out.is_empty() && line.eq_ignore_ascii_case("file,bpm")) {
            continue;
        }
        let bad = |why: String| EvalError::TruthLine {
            path: shown.clone(),
            line: i + 1,
            why,
        };
        let (file, bpm) = line
            .rsplit_once(',')
            .ok_or_else(|| bad(format!("{line:?} is not file,bpm")))?;
        let (file, bpm) = (file.trim(), bpm.trim());
        if file.is_empty() || Path::new(file).is_absolute() || file.contains("..") {
            return Err(bad(format!(
                "{file:?} is not a file name inside the directory"
            )));
        }
        let bpm = if bpm.eq_ignore_ascii_case("none") {
            None
        } else {
            match bpm.parse::<f64>() {
                Ok(b) if b.is_finite() && (20.0..=400.0).contains(&b) => Some(b),
                _ => return Err(bad(format!("{bpm:?} is not a tempo (20-400) or none"))),
            }
        };
        if out.len() == MAX_FILES {
            return Err(bad(format!("more than {MAX_FILES} files")));
        }
        out.push(Truth {
            file: file.to_owned(),
            bpm,
        });
    }
    Ok(out)
}

/// One file's scores.
#[derive(Debug, Clone, Serialize)]
pub struct FileScore {
    /// The file.
    pub file: String,
    /// Its true tempo (`None`: no beat).
    pub truth_bpm: Option<f64>,
    /// Deckcast's final tempo.
    pub bpm: Option<f64>,
    /// How it compares.
    pub class: Class,
    /// Seconds into the file of the first stable reading.
    pub first_stable_s: Option<f64>,
    /// The largest distance of a stable reading from the final tempo (BPM).
    pub wander_bpm: Option<f64>,
    /// Seconds of audio per second of analysis.
    pub realtime_factor: f64,
    /// `aubio tempo`'s tempo (`None`: it found none, or is not installed).
    pub aubio_bpm: Option<f64>,
    /// How aubio's compares (`None`: aubio is not installed or failed).
    pub aubio_class: Option<Class>,
}

/// Counts over all files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Files scored.
    pub files: usize,
    /// Strict hits.
    pub strict: usize,
    /// Acc1 hits.
    pub acc1: usize,
    /// Acc2 hits.
    pub acc2: usize,
    /// Files with a beat but no tempo.
    pub no_reading: usize,
    /// Files without a beat given a tempo.
    pub false_reading: usize,
}

impl Tally {
    fn add(&mut self, c: Class) {
        self.files += 1;
        self.strict += usize::from(matches!(c, Class::Strict | Class::RightlyNone));
        self.acc1 += usize::from(c.acc1());
        self.acc2 += usize::from(c.acc2());
        self.no_reading += usize::from(c == Class::NoReading);
        self.false_reading += usize::from(c == Class::FalseReading);
    }
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Per file, in `truth.csv`'s order.
    pub files: Vec<FileScore>,
    /// Deckcast's counts.
    pub deckcast: Tally,
    /// aubio's counts (`None`: `aubio` is not installed).
    pub aubio: Option<Tally>,
    /// Median time to the first stable reading (files that had one).
    pub median_first_stable_s: Option<f64>,
    /// Median real-time factor.
    pub median_realtime_factor: f64,
}

/// Scores every file `dir/truth.csv` lists with the default tracker settings, and with
/// `aubio tempo` when `aubio` (python3-aubio) is on the PATH.
pub fn evaluate(dir: &Path) -> Result<Evaluation, EvalError> {
    let truth = read_truth(dir)?;
    let aubio_found = aubio_version().is_some();
    let mut files = Vec::with_capacity(truth.len());
    let mut deckcast = Tally::default();
    let mut aubio = aubio_found.then(Tally::default);
    for t in truth {
        let path = dir.join(&t.file);
        let started = Instant::now();
        let a = analyze(&path, 70.0, 180.0, Correction::None, 0.1)?;
        let spent = started.elapsed().as_secs_f64().max(1e-6);
        let bpm = (a.bpm > 0.0).then_some(a.bpm);
        let stable: Vec<_> = a
            .timeline
            .iter()
            .filter(|p| p.stable && p.bpm > 0.0)
            .collect();
        let first_stable_s = stable.first().map(|p| p.time_s);
        let wander_bpm =
            bpm.and_then(|b| stable.iter().map(|p| (p.bpm - b).abs()).reduce(f64::max));
        let class = classify(t.bpm, bpm);
        deckcast.add(class);
        let (aubio_bpm, aubio_class) = match aubio.as_mut() {
            Some(tally) => match aubio_tempo(&path) {
                Some(got) => {
                    let c = classify(t.bpm, got);
                    tally.add(c);
                    (got, Some(c))
                }
                None => (None, None),
            },
            None => (None, None),
        };
        files.push(FileScore {
            file: t.file,
            truth_bpm: t.bpm,
            bpm,
            class,
            first_stable_s,
            wander_bpm,
            realtime_factor: a.duration_s / spent,
            aubio_bpm,
            aubio_class,
        });
    }
    let median_first_stable_s = median(files.iter().filter_map(|f| f.first_stable_s).collect());
    let median_realtime_factor =
        median(files.iter().map(|f| f.realtime_factor).collect()).unwrap_or(0.0);
    Ok(Evaluation {
        files,
        deckcast,
        aubio,
        median_first_stable_s,
        median_realtime_factor,
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// `aubio --version`'s answer, if aubio's command-line tool is installed.
fn aubio_version() -> Option<String> {
    let out = Command::new("aubio")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `aubio tempo -i FILE`: `Some(Some(bpm))`, `Some(None)` for "unknown bpm", `None` when it
/// failed or took longer than [`AUBIO_TIMEOUT`].
fn aubio_tempo(path: &Path) -> Option<Option<f64>> {
    use std::io::Read;
    let mut child = Command::new("aubio")
        .args(["tempo", "-i"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    crate::child::wait_bounded(&mut child, AUBIO_TIMEOUT).ok()??;
    let mut text = String::new();
    child
        .stdout
        .take()?
        .take(64 * 1024)
        .read_to_string(&mut text)
        .ok()?;
    parse_aubio(&text)
}

/// The tempo in `aubio tempo`'s output: its last line is `N.NN bpm`, `N.NN bpm (uncertain)` or
/// `unknown bpm`.
fn parse_aubio(text: &str) -> Option<Option<f64>> {
    let last = text.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    if last.starts_with("unknown bpm") {
        return Some(None);
    }
    let number = last
        .strip_suffix(" (uncertain)")
        .unwrap_or(last)
        .strip_suffix(" bpm")?;
    let bpm = number
        .parse::<f64>()
        .ok()
        .filter(|b| b.is_finite() && *b > 0.0)?;
    Some(Some(bpm))
}

impl Evaluation {
    /// The table: one line per file, then the totals.
    pub fn render(&self) -> String {
        let opt = |v: Option<f64>, d: usize| v.map_or("–".to_owned(), |x| format!("{x:.d$}"));
        let name = |c: Option<Class>| match c {
            Some(Class::Strict) => "strict",
            Some(Class::Acc1) => "acc1",
            Some(Class::Acc2) => "acc2",
            Some(Class::Wrong) => "wrong",
            Some(Class::NoReading) => "none",
            Some(Class::RightlyNone) => "ok",
            Some(Class::FalseReading) => "false",
            None => "–",
        };
        let mut out = format!(
            "{:<32} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}\n",
            "file", "truth", "deckcast", "", "stable", "wander", "RTF", "aubio", ""
        );
        for f in &self.files {
            out.push_str(&format!(
                "{:<32} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7.0} {:>9} {:>7}\n",
                f.file,
                opt(f.truth_bpm, 2),
                opt(f.bpm, 2),
                name(Some(f.class)),
                f.first_stable_s
                    .map_or("–".to_owned(), |s| format!("{s:.1} s")),
                opt(f.wander_bpm, 2),
                f.realtime_factor,
                opt(f.aubio_bpm, 2),
                name(f.aubio_class),
            ));
        }
        let tally = |label: &str, t: &Tally| {
            let pct = |n: usize| 100.0 * n as f64 / t.files.max(1) as f64;
            format!(
                "{label:<12} strict {}/{} ({:.0} %)  Acc1 {} ({:.0} %)  Acc2 {} ({:.0} %)  no reading {}  false reading {}\n",
                t.strict,
                t.files,
                pct(t.strict),
                t.acc1,
                pct(t.acc1),
                t.acc2,
                pct(t.acc2),
                t.no_reading,
                t.false_reading
            )
        };
        out.push('\n');
        out.push_str(&tally("deckcast", &self.deckcast));
        match &self.aubio {
            Some(a) => out.push_str(&tally("aubio tempo", a)),
            None => out.push_str("aubio tempo  not installed (apt-get install python3-aubio)\n"),
        }
        out.push_str(&format!(
            "first stable reading: median {}; real-time factor: median {:.0}×\n",
            self.median_first_stable_s
                .map_or("–".to_owned(), |s| format!("{s:.1} s")),
            self.median_realtime_factor
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_errors_are_classified_as_the_measures_define_them() {
        assert_eq!(classify(Some(120.0), Some(120.4)), Class::Strict);
        assert_eq!(classify(Some(120.0), Some(123.0)), Class::Acc1);
        assert_eq!(classify(Some(120.0), Some(125.0)), Class::Wrong);
        assert_eq!(classify(Some(87.0), Some(174.0)), Class::Acc2);
        assert_eq!(classify(Some(174.0), Some(87.5)), Class::Acc2);
        assert_eq!(classify(Some(90.0), Some(135.0)), Class::Acc2, "×3⁄2");
        assert_eq!(classify(Some(150.0), Some(100.0)), Class::Acc2, "×⅔");
        assert_eq!(classify(Some(120.0), None), Class::NoReading);
        assert_eq!(classify(None, None), Class::RightlyNone);
        assert_eq!(classify(None, Some(120.0)), Class::FalseReading);
        assert!(Class::Strict.acc1() && Class::Acc1.acc2() && !Class::Acc2.acc1());
        assert!(!Class::Wrong.acc2() && !Class::NoReading.acc2());
        let mut t = Tally::default();
        for c in [Class::Strict, Class::Acc1, Class::Acc2, Class::NoReading] {
            t.add(c);
        }
        assert_eq!(
            (t.files, t.strict, t.acc1, t.acc2, t.no_reading),
            (4, 1, 2, 3, 1)
        );
    }

    #[test]
    fn the_truth_file_is_read_strictly() {
        let dir = std::env::temp_dir().join(format!("deckcast-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |text: &str| std::fs::write(dir.join("truth.csv"), text).unwrap();
        write("file,bpm\n# a comment\na.wav, 124.5\nsub/b.wav,none # no beat\n\n");
        let t = read_truth(&dir).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].bpm, Some(124.5));
        assert_eq!((t[1].file.as_str(), t[1].bpm), ("sub/b.wav", None));
        for (bad, says) in [
            ("a.wav\n", "not file,bpm"),
            ("a.wav,fast\n", "not a tempo"),
            ("a.wav,1000\n", "not a tempo"),
            ("../x.wav,120\n", "inside the directory"),
            ("/etc/x.wav,120\n", "inside the directory"),
        ] {
            write(bad);
            let e = read_truth(&dir).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("line 1"), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            read_truth(&dir)
                .unwrap_err()
                .to_string()
                .contains("truth.csv")
        );
    }

    #[test]
    fn aubio_s_answer_is_read_as_it_prints_it() {
        assert_eq!(parse_aubio("123.98 bpm\n"), Some(Some(123.98)));
        assert_eq!(parse_aubio("98.20 bpm (uncertain)\n"), Some(Some(98.2)));
        assert_eq!(parse_aubio("unknown bpm\n"), Some(None));
        assert_eq!(parse_aubio("Traceback ...\nError\n"), None);
        assert_eq!(parse_aubio(""), None);
    }
}
