//! The built-in rules: each on/off with a threshold and a time (a window or a duration, per
//! rule), defaults a DJ can start with, limits that keep a typo from silencing an alert, and
//! per-target overrides. Stored as one JSON setting ([`SETTING`]).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AlertKind;
use super::protect::{Protection, ProtectionPatch};

/// The settings key of the rules.
pub const SETTING: &str = "alert_rules";

/// Most per-target overrides kept.
pub const MAX_TARGET_OVERRIDES: usize = 256;

/// One rule: on/off, a threshold and a time; what each means depends on the rule
/// ([`spec`] describes it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// On or off.
    pub enabled: bool,
    /// The rule's threshold (unit in [`Spec::threshold_unit`]).
    pub threshold: f64,
    /// The rule's time in seconds: its window, or how long the condition must hold.
    pub seconds: u32,
    /// How long the condition must be over before the alert clears (hysteresis).
    pub clear_seconds: u32,
}

/// What a rule's numbers mean, its defaults and limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = RuleSpec)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// The rule.
    pub kind: AlertKind,
    /// What it watches, for people.
    pub description: &'static str,
    /// The unit of `threshold` (empty: unused).
    pub threshold_unit: &'static str,
    /// Allowed thresholds.
    pub threshold_range: (f64, f64),
    /// What `seconds` is (`window`, `duration`, or empty: unused).
    pub seconds_meaning: &'static str,
    /// Allowed seconds.
    pub seconds_range: (u32, u32),
    /// The defaults.
    pub default: Rule,
}

const fn rule(threshold: f64, seconds: u32, clear_seconds: u32) -> Rule {
    Rule {
        enabled: true,
        threshold,
        seconds,
        clear_seconds,
    }
}

/// Every rule's spec, in [`AlertKind::ALL`] order.
pub const SPECS: &[Spec] = &[
    Spec {
        kind: AlertKind::TargetDrops,
        description: "a target drops more than this share of its frames over the window",
        threshold_unit: "%",
        threshold_range: (0.1, 50.0),
        seconds_meaning: "window",
        seconds_range: (3, 300),
        default: rule(1.0, 10, 10),
    },
    Spec {
        kind: AlertKind::LowBitrate,
        description: "a live target sends less than this share of its encoder's bitrate for this long",
        threshold_unit: "%",
        threshold_range: (5.0, 95.0),
        seconds_meaning: "duration",
        seconds_range: (3, 600),
        default: rule(50.0, 10, 10),
    },
    Spec {
        kind: AlertKind::ReconnectStorm,
        description: "a target reconnects this many times within the window",
        threshold_unit: "reconnects",
        threshold_range: (2.0, 100.0),
        seconds_meaning: "window",
        seconds_range: (30, 3600),
        default: rule(3.0, 300, 60),
    },
    Spec {
        kind: AlertKind::TargetError,
        description: "a target stopped with an error",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "",
        seconds_range: (0, 0),
        default: rule(0.0, 0, 0),
    },
    Spec {
        kind: AlertKind::Congestion,
        description: "a target's output congestion (0–1) stays at or above this for this long",
        threshold_unit: "",
        threshold_range: (0.1, 1.0),
        seconds_meaning: "duration",
        seconds_range: (3, 600),
        default: rule(0.8, 10, 10),
    },
    Spec {
        kind: AlertKind::TargetStopped,
        description: "protection stopped a shared-encoder target whose link stalled (it stays raised until the target is started again)",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "",
        seconds_range: (0, 0),
        default: rule(0.0, 0, 0),
    },
    Spec {
        kind: AlertKind::RenderLag,
        description: "OBS's renderer skips more than this share of its frames over the window",
        threshold_unit: "%",
        threshold_range: (0.1, 50.0),
        seconds_meaning: "window",
        seconds_range: (3, 300),
        default: rule(5.0, 10, 10),
    },
    Spec {
        kind: AlertKind::EncodeLag,
        description: "OBS's encoder skips more than this share of its frames over the window",
        threshold_unit: "%",
        threshold_range: (0.1, 50.0),
        seconds_meaning: "window",
        seconds_range: (3, 300),
        default: rule(5.0, 10, 10),
    },
    Spec {
        kind: AlertKind::ObsDisconnected,
        description: "the companion has lost OBS for this long (after having reached it)",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "duration",
        seconds_range: (1, 600),
        default: rule(0.0, 5, 3),
    },
    Spec {
        kind: AlertKind::MainStreamDropped,
        description: "OBS's own stream reconnects, or stops while targets are live, for this long",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "duration",
        seconds_range: (1, 600),
        default: rule(0.0, 3, 5),
    },
    Spec {
        kind: AlertKind::DeadAir,
        description: "while live, the audio stays below this level for this long",
        threshold_unit: "dBFS",
        threshold_range: (-90.0, -20.0),
        seconds_meaning: "duration",
        seconds_range: (2, 600),
        default: rule(-50.0, 8, 2),
    },
    Spec {
        kind: AlertKind::Clipping,
        description: "the audio reaches −0.5 dBFS in more than this share of the window",
        threshold_unit: "%",
        threshold_range: (0.01, 50.0),
        seconds_meaning: "window",
        seconds_range: (1, 60),
        default: rule(1.0, 5, 10),
    },
    Spec {
        kind: AlertKind::DiskSpace,
        description: "while OBS records, the free space where it writes lasts fewer than this many minutes at the recording's bitrate over the window",
        threshold_unit: "min",
        threshold_range: (1.0, 600.0),
        seconds_meaning: "window",
        seconds_range: (4, 120),
        default: rule(30.0, 10, 10),
    },
    Spec {
        kind: AlertKind::RecordingStopped,
        description: "Deckcast stopped OBS's recording because its disk was about to fill, within the window",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "window",
        seconds_range: (60, 86_400),
        default: rule(0.0, 600, 0),
    },
    Spec {
        kind: AlertKind::KeyringLocked,
        description: "the OS keyring is locked or unreachable (stream keys cannot be read)",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "",
        seconds_range: (0, 0),
        default: rule(0.0, 0, 30),
    },
    Spec {
        kind: AlertKind::WebhooksDead,
        description: "webhooks to the streamer's site were given up on within the window",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "window",
        seconds_range: (60, 86_400),
        default: rule(0.0, 600, 0),
    },
    Spec {
        kind: AlertKind::SetFailed,
        description: "a scheduled set could not start (part of) what it should, within the window",
        threshold_unit: "",
        threshold_range: (0.0, 0.0),
        seconds_meaning: "window",
        seconds_range: (60, 86_400),
        default: rule(0.0, 600, 0),
    },
];

/// The spec of `kind`.
pub fn spec(kind: AlertKind) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| unreachable!("every kind has a spec (unit-tested)"))
}

/// One target's overrides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRules {
    /// False: no alerts about this target at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its own dropped-frames threshold (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drops_percent: Option<f64>,
    /// Its own low-bitrate threshold (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_bitrate_percent: Option<f64>,
}

fn yes() -> bool {
    true
}

/// Every rule, the audio the meter follows, desktop notifications, per-target overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertRules {
    /// The rules by kind (every kind present).
    pub rules: BTreeMap<AlertKind, Rule>,
    /// The audio source dead air and clipping are measured on (empty: OBS's program mix).
    #[serde(default)]
    #[schema(required)]
    pub audio_source: String,
    /// Desktop notifications (freedesktop notification service) on or off.
    #[serde(default = "yes")]
    #[schema(required)]
    pub desktop: bool,
    /// On dead air, switch to this "be right back" scene, and back when the audio returns
    /// (empty: off). The scene must carry the audio the meter listens to, or only a manual
    /// switch ends it.
    #[serde(default)]
    #[schema(required)]
    pub dead_air_scene: String,
    /// Per-target overrides, by target id.
    #[serde(default)]
    #[schema(required)]
    pub targets: BTreeMap<String, TargetRules>,
    /// Automatic protection.
    #[serde(default)]
    #[schema(required)]
    pub protect: Protection,
}

impl Default for AlertRules {
    fn default() -> AlertRules {
        AlertRules {
            rules: SPECS.iter().map(|s| (s.kind, s.default)).collect(),
            audio_source: String::new(),
            desktop: true,
            dead_air_scene: String::new(),
            targets: BTreeMap::new(),
            protect: Protection::default(),
        }
    }
}

/// A change to the rules (`PUT /api/v1/alerts/rules`): only what is given changes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RulesPatch {
    /// Rules to change, by kind; each field optional.
    #[serde(default)]
    pub rules: BTreeMap<AlertKind, RulePatch>,
    /// The audio source (empty: the program mix).
    pub audio_source: Option<String>,
    /// Desktop notifications.
    pub desktop: Option<bool>,
    /// The "be right back" scene for dead air (empty: off).
    pub dead_air_scene: Option<String>,
    /// Per-target overrides to set; `null` removes one.
    #[serde(default)]
    #[schema(schema_with = nullable_target_rules)]
    pub targets: BTreeMap<String, Option<TargetRules>>,
    /// Protection settings to change.
    pub protect: Option<ProtectionPatch>,
}

/// The schema of [`RulesPatch::targets`]: target id → overrides or `null` (utoipa's derive has
/// no map of optional values).
fn nullable_target_rules() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{
        AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type,
    };
    use utoipa::openapi::{Ref, RefOr};
    let value = OneOfBuilder::new()
        .item(Ref::from_schema_name("TargetRules"))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::OneOf(
            value,
        )))))
        .description(Some("null removes a target's overrides."))
        .build()
}

/// A change to one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RulePatch {
    /// On or off.
    pub enabled: Option<bool>,
    /// Threshold.
    pub threshold: Option<f64>,
    /// Seconds.
    pub seconds: Option<u32>,
    /// Seconds before clearing.
    pub clear_seconds: Option<u32>,
}

fn check_threshold(kind: AlertKind, what: &str, v: f64) -> Result<(), String> {
    let s = spec(kind);
    let (lo, hi) = s.threshold_range;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!(
            "{}: {what} must be between {lo} and {hi}{}",
            kind.as_str(),
            if s.threshold_unit.is_empty() {
                String::new()
            } else {
                format!(" {}", s.threshold_unit)
            }
        ));
    }
    Ok(())
}

impl AlertRules {
    /// The rule of `kind`.
    pub fn rule(&self, kind: AlertKind) -> Rule {
        self.rules
            .get(&kind)
            .copied()
            .unwrap_or_else(|| spec(kind).default)
    }

    /// Whether `kind` is on for `target` (targets can be switched off as a whole).
    pub fn on_for(&self, kind: AlertKind, target: Option<&str>) -> bool {
        self.rule(kind).enabled
            && target
                .and_then(|t| self.targets.get(t))
                .is_none_or(|t| t.enabled)
    }

    /// The threshold of `kind` for `target` (its override, else the rule's).
    pub fn threshold_for(&self, kind: AlertKind, target: &str) -> f64 {
        let o = self.targets.get(target);
        match kind {
            AlertKind::TargetDrops => o.and_then(|o| o.drops_percent),
            AlertKind::LowBitrate => o.and_then(|o| o.low_bitrate_percent),
            _ => None,
        }
        .unwrap_or_else(|| self.rule(kind).threshold)
    }

    /// Applies `patch`, checking every value; on error nothing changes.
    pub fn apply(&self, patch: RulesPatch) -> Result<AlertRules, String> {
        let mut next = self.clone();
        for kind in AlertKind::ALL {
            next.rules.entry(*kind).or_insert(spec(*kind).default);
        }
        for (kind, p) in patch.rules {
            let s = spec(kind);
            let r = next.rules.entry(kind).or_insert(s.default);
            if let Some(e) = p.enabled {
                r.enabled = e;
            }
            if let Some(t) = p.threshold {
                if s.threshold_unit.is_empty() && s.threshold_range == (0.0, 0.0) {
                    return Err(format!("{}: this rule has no threshold", kind.as_str()));
                }
                check_threshold(kind, "threshold", t)?;
                r.threshold = t;
            }
            if let Some(sec) = p.seconds {
                let (lo, hi) = s.seconds_range;
                if s.seconds_meaning.is_empty() {
                    return Err(format!("{}: this rule has no time", kind.as_str()));
                }
                if sec < lo || sec > hi {
                    return Err(format!(
                        "{}: seconds must be between {lo} and {hi}",
                        kind.as_str()
                    ));
                }
                r.seconds = sec;
            }
            if let Some(c) = p.clear_seconds {
                if c > 3600 {
                    return Err(format!(
                        "{}: clearSeconds must be at most 3600",
                        kind.as_str()
                    ));
                }
                r.clear_seconds = c;
            }
        }
        if let Some(source) = patch.audio_source {
            let source = source.trim();
            if source.len() > deckcast_protocol::audio::MAX_SOURCE_NAME
                || source.chars().any(char::is_control)
            {
                return Err(
                    "audioSource must be an OBS source name (at most 256 bytes, no control characters)"
                        .into(),
                );
            }
            next.audio_source = source.to_owned();
        }
        if let Some(d) = patch.desktop {
            next.desktop = d;
        }
        if let Some(scene) = patch.dead_air_scene {
            let scene = scene.trim();
            if scene.len() > 256 || scene.chars().any(char::is_control) {
                return Err(
                    "deadAirScene must be an OBS scene name (at most 256 bytes, no control characters)"
                        .into(),
                );
            }
            next.dead_air_scene = scene.to_owned();
        }
        for (id, o) in patch.targets {
            match o {
                None => {
                    next.targets.remove(&id);
                }
                Some(o) => {
                    if id.is_empty() || id.len() > 64 {
                        return Err("a target id must be 1 to 64 bytes".into());
                    }
                    if let Some(p) = o.drops_percent {
                        check_threshold(AlertKind::TargetDrops, "dropsPercent", p)?;
                    }
                    if let Some(p) = o.low_bitrate_percent {
                        check_threshold(AlertKind::LowBitrate, "lowBitratePercent", p)?;
                    }
                    next.targets.insert(id, o);
                }
            }
        }
        if let Some(p) = patch.protect {
            next.protect = next.protect.apply(p)?;
        }
        if next.targets.len() > MAX_TARGET_OVERRIDES {
            return Err(format!(
                "at most {MAX_TARGET_OVERRIDES} targets can have their own alert settings"
            ));
        }
        Ok(next)
    }

    /// The rules stored in a setting; a setting that does not parse (a newer or damaged version)
    /// gives the defaults, with a warning.
    pub fn from_setting(text: Option<&str>) -> AlertRules {
        let Some(text) = text else {
            return AlertRules::default();
        };
        match serde_json::from_str::<AlertRules>(text) {
            Ok(mut r) => {
                for kind in AlertKind::ALL {
                    r.rules.entry(*kind).or_insert(spec(*kind).default);
                }
                r
            }
            Err(e) => {
                tracing::warn!("alert rules in the database do not parse ({e}); using defaults");
                AlertRules::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_has_a_spec_whose_defaults_are_within_its_limits() {
        assert_eq!(SPECS.len(), AlertKind::ALL.len());
        for (s, k) in SPECS.iter().zip(AlertKind::ALL) {
            assert_eq!(s.kind, *k);
            let (lo, hi) = s.threshold_range;
            assert!(
                s.default.threshold >= lo && s.default.threshold <= hi,
                "{k:?}"
            );
            let (lo, hi) = s.seconds_range;
            assert!(s.default.seconds >= lo && s.default.seconds <= hi, "{k:?}");
            assert_eq!(AlertKind::parse(k.as_str()), Some(*k));
        }
        let d = AlertRules::default();
        assert_eq!(d.rule(AlertKind::DeadAir).threshold, -50.0);
        assert_eq!(d.rule(AlertKind::DeadAir).seconds, 8);
    }

    #[test]
    fn patches_change_only_what_they_name_and_refuse_out_of_range_values() {
        let d = AlertRules::default();
        let p: RulesPatch = serde_json::from_value(json!({
            "rules": {"dead_air": {"seconds": 4}, "clipping": {"enabled": false}},
            "audioSource": " Mixer ",
            "targets": {"t1": {"dropsPercent": 5.0}, "t2": {"enabled": false}}
        }))
        .unwrap();
        let r = d.apply(p).unwrap();
        assert_eq!(r.protect, Protection::default());
        let p: RulesPatch =
            serde_json::from_value(json!({"protect": {"lowerBitrate": false, "stepSeconds": 5}}))
                .unwrap();
        let off = r.apply(p).unwrap();
        assert!(!off.protect.lower_bitrate && off.protect.stop_stalled);
        assert_eq!(off.protect.step_seconds, 5);
        assert!(serde_json::from_value::<RulesPatch>(json!({"protect": {"nope": 1}})).is_err());
        assert_eq!(r.rule(AlertKind::DeadAir).seconds, 4);
        assert_eq!(r.rule(AlertKind::DeadAir).threshold, -50.0);
        assert!(!r.rule(AlertKind::Clipping).enabled);
        assert_eq!(r.audio_source, "Mixer");
        assert_eq!(r.threshold_for(AlertKind::TargetDrops, "t1"), 5.0);
        assert_eq!(r.threshold_for(AlertKind::TargetDrops, "t3"), 1.0);
        assert!(!r.on_for(AlertKind::TargetDrops, Some("t2")));
        assert!(r.on_for(AlertKind::TargetDrops, Some("t1")));
        // A stored copy reads back the same.
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(AlertRules::from_setting(Some(&text)), r);
        assert_eq!(
            AlertRules::from_setting(Some("{not json")),
            AlertRules::default()
        );
        for bad in [
            json!({"rules": {"dead_air": {"threshold": 0.0}}}),
            json!({"rules": {"dead_air": {"threshold": f64::MAX}}}),
            json!({"rules": {"target_drops": {"seconds": 1}}}),
            json!({"rules": {"target_error": {"threshold": 1.0}}}),
            json!({"targets": {"t1": {"dropsPercent": 90.0}}}),
            json!({"audioSource": "a\u{1}b"}),
            json!({"protect": {"floorPercent": 5}}),
            json!({"protect": {"stallPercent": 0.0}}),
        ] {
            let p: RulesPatch = serde_json::from_value(bad.clone()).unwrap();
            assert!(r.apply(p).is_err(), "{bad}");
        }
        // Unknown rules and fields are refused when decoding.
        assert!(serde_json::from_value::<RulesPatch>(json!({"rules": {"nope": {}}})).is_err());
        assert!(
            serde_json::from_value::<RulesPatch>(json!({"rules": {"dead_air": {"x": 1}}})).is_err()
        );
        // Removing an override.
        let p: RulesPatch = serde_json::from_value(json!({"targets": {"t1": null}})).unwrap();
        assert!(!r.apply(p).unwrap().targets.contains_key("t1"));
    }
}
