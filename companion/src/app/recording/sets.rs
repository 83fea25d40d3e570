//! Scheduled sets that record (`record: true`, the default): the scheduler calls these as a
//! set's outputs are made live and as it ends. A set never starts a second recording: when OBS
//! already records, that recording is the set's (if it belongs to no other) and the set leaves
//! it running at its end. What a set started is committed before the start, so a companion
//! killed just after it still stops the recording with the set. A set's recording that ended
//! while the set runs is started again only if it ended unseen (OBS crashed or restarted): one the
//! DJ stopped, or the disk-space guard, stays stopped.
use super::{Ending, StartedBy};
use crate::app::{App, AppError};
use crate::schedule::Entry;

impl App {
    /// Makes sure set `set` is being recorded (scheduler; `set.record` is on).
    pub async fn record_set(&self, set: &Entry) -> Result<(), AppError> {
        let obs = self.obs()?;
        let out = obs.record_output().await?;
        let open = self.db.call(|s| s.open_recording_row()).await?;
        let fresh = open
            .as_ref()
            .is_some_and(|r| r.started_ms > self.now_ms() - super::STARTING_GRACE_MS);
        if out.active || fresh {
            if let Some(row) = open {
                let (rid, sid) = (row.id, set.id);
                self.db
                    .call(move |s| s.attach_recording_set(rid, sid))
                    .await?;
            }
            return Ok(());
        }
        let sid = set.id;
        if let Some(last) = self.db.call(move |s| s.last_recording_of_set(sid)).await?
            && last.ended_ms.is_some()
            && Ending::parse(last.ending.as_deref().unwrap_or_default()) != Ending::Unobserved
        {
            return Ok(()); // stopped on purpose: not again for this set
        }
        self.db
            .call(move |s| s.set_started_record(sid, true))
            .await?;
        let started = self
            .start_recording(StartedBy::Schedule, Some(set.id))
            .await;
        if !matches!(started, Ok(ref r) if r.started) {
            self.db
                .call(move |s| s.set_started_record(sid, false))
                .await?;
        }
        started.map(|_| ())
    }

    /// Set `set` ended: the recording it started is stopped, or handed to another running set
    /// in `others` that records (which stops it at its own end). A recording the set did not
    /// start is left running.
    pub async fn stop_set_recording(&self, set: &Entry, others: &[&Entry]) {
        if !set.started_record {
            return;
        }
        let r: Result<(), AppError> = async {
            let Some(row) = self.db.call(|s| s.open_recording_row()).await? else {
                return Ok(());
            };
            if row.set_id != Some(set.id)
                || StartedBy::parse(&row.started_by) != StartedBy::Schedule
            {
                return Ok(()); // stopped and started again by someone else since
            }
            if let Some(next) = others.iter().find(|o| o.record) {
                let (sid, rid) = (next.id, row.id);
                self.db
                    .call(move |s| {
                        s.set_started_record(sid, true)?;
                        s.hand_recording_to_set(rid, sid)
                    })
                    .await?;
                return Ok(());
            }
            // Only asked: OBS's stopped event closes the entry (the scheduler does not wait
            // for OBS to finish the file, which can take a while).
            self.obs()?.stop_recording().await?;
            Ok(())
        }
        .await;
        if let Err(e) = r {
            tracing::warn!("set '{}': stopping the recording: {e}", set.title);
        }
    }
}
