//! One cockpit drives a cluster at a time: a `coordination.k8s.io/v1` Lease in the
//! cluster names the holder, renewed while it drives. A second cockpit is refused
//! with the holder's identity and since when; taking over needs both an explicit
//! request and an expired lease (the holder stopped renewing). The same operator
//! starting again after a crash gets the lease back: that is how a rollout resumes.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, PostParams};

use crate::units::Now;

/// Where the lease lives by default: beside the rollout the drive publishes.
pub const NAMESPACE: &str = crate::model::rollout::NAMESPACE;
pub const NAME: &str = "upshift-rollout";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{holder} drives this cluster (since {since}, lease renewed {renewed_ago} ago); watch with `upshift watch`, or wait for it to finish"
    )]
    Held {
        holder: String,
        since: String,
        renewed_ago: String,
    },
    #[error(
        "{holder} held this cluster's lease (since {since}) but stopped renewing it {expired_ago} ago; if that cockpit is gone, take over with --take-over"
    )]
    Expired {
        holder: String,
        since: String,
        expired_ago: String,
    },
    #[error(
        "another drive of {holder} (drive {drive}, process {pid} on this machine) drives this cluster since {since}: watch it with `upshift watch`; to take over, stop that drive (q, or its process) and run this command again"
    )]
    OtherDrive {
        holder: String,
        drive: String,
        pid: u32,
        since: String,
    },
    #[error(
        "{from} handed this cluster's drive over to {to} (lease renewed {renewed_ago} ago): only {to} may drive it now, with the same `upshift drive` command; watch with `upshift watch`"
    )]
    HandedOver {
        from: String,
        to: String,
        renewed_ago: String,
    },
    #[error("the lease {namespace}/{name} was taken by {holder}: this cockpit no longer drives the cluster")]
    Lost {
        namespace: String,
        name: String,
        holder: String,
    },
    #[error("{action} the lease {namespace}/{name}: {source}{hint}")]
    Api {
        action: &'static str,
        namespace: String,
        name: String,
        source: kube::Error,
        hint: &'static str,
    },
}

/// The lease's annotation with the holding drive's random id.
pub const DRIVE_ANNOTATION: &str = "upshift.dev/drive-id";
/// The lease's annotation with the holding drive's process id, on the holder's machine.
pub const PID_ANNOTATION: &str = "upshift.dev/drive-pid";
/// The lease's annotation naming the operator the holder handed the drive to.
pub const HANDED_TO_ANNOTATION: &str = "upshift.dev/handed-to";

/// Whether the operator typed as `to` is `identity` (`ana` names `ana@laptop`).
pub fn names(to: &str, identity: &str) -> bool {
    crate::rollout::drive::decide::names(to, identity)
}

/// A held lease.
pub struct Lock {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    /// The drive's random id (None: a lease of the operator, not of one process).
    drive: Option<String>,
    duration: SignedDuration,
    now: Now,
}

fn micro(t: Timestamp) -> MicroTime {
    MicroTime(t)
}

fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

impl Lock {
    /// Takes the lease for `identity`, or says who holds it.
    pub async fn acquire(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: std::time::Duration,
        take_over: bool,
        now: Now,
    ) -> Result<Lock, LockError> {
        Lock::acquire_for(client, namespace, name, identity, None, duration, take_over, now).await
    }

    /// Takes the lease for the drive `drive` of `identity`. The same operator's lease
    /// held by another drive is taken back only when that drive's process is gone
    /// (the operator restarting after a crash); while it runs, this one is refused.
    #[allow(clippy::too_many_arguments)]
    pub async fn acquire_for(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        drive: Option<&str>,
        duration: std::time::Duration,
        take_over: bool,
        now: Now,
    ) -> Result<Lock, LockError> {
        let lock = Lock {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            drive: drive.map(str::to_string),
            duration: SignedDuration::try_from(duration).unwrap_or(SignedDuration::from_secs(30)),
            now,
        };
        // two tries: a race with another cockpit creating or updating it shows as a conflict
        for _ in 0..2 {
            let current = lock.api.get_opt(name).await.map_err(|e| lock.api_error("reading", e))?;
            let t = (lock.now)();
            let result = match current {
                None => lock.api.create(&PostParams::default(), &lock.lease(None, t, t)).await,
                Some(existing) => {
                    let spec = existing.spec.clone().unwrap_or_default();
                    let holder = spec.holder_identity.clone().unwrap_or_default();
                    let renewed = spec.renew_time.as_ref().map(|m| m.0).unwrap_or(Timestamp::UNIX_EPOCH);
                    let since = spec.acquire_time.as_ref().map(|m| m.0).unwrap_or(renewed);
                    let held_for = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(30)));
                    let expired = renewed + held_for < t;
                    let handed_to = existing
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(HANDED_TO_ANNOTATION))
                        .cloned();
                    if let Some(to) = handed_to {
                        // handed over: the named operator takes it, anyone else is refused
                        // (an expired one may still be taken over by request)
                        if names(&to, &lock.identity) || (take_over && expired) {
                            let mut lease = lock.lease(existing.metadata.resource_version.clone(), t, t);
                            lease.metadata.uid = existing.metadata.uid.clone();
                            match lock.api.replace(name, &PostParams::default(), &lease).await {
                                Ok(_) => return Ok(lock),
                                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                                Err(e) => return Err(lock.api_error("taking", e)),
                            }
                        }
                        return Err(LockError::HandedOver {
                            from: holder,
                            to,
                            renewed_ago: ago(t, renewed),
                        });
                    }
                    let mine = holder == lock.identity || holder.is_empty();
                    if mine
                        && !expired
                        && let Some((drive, pid)) = other_live_drive(&existing, lock.drive.as_deref())
                    {
                        return Err(LockError::OtherDrive {
                            holder,
                            drive,
                            pid,
                            since: since.to_string(),
                        });
                    }
                    if !mine && !expired {
                        return Err(LockError::Held {
                            holder,
                            since: since.to_string(),
                            renewed_ago: ago(t, renewed),
                        });
                    }
                    if !mine && !take_over {
                        return Err(LockError::Expired {
                            holder,
                            since: since.to_string(),
                            expired_ago: ago(t, renewed + held_for),
                        });
                    }
                    // resuming keeps the original acquire time; a takeover starts anew
                    let acquired = if mine && !holder.is_empty() { since } else { t };
                    let mut lease = lock.lease(existing.metadata.resource_version.clone(), acquired, t);
                    lease.metadata.uid = existing.metadata.uid.clone();
                    lock.api.replace(name, &PostParams::default(), &lease).await
                }
            };
            match result {
                Ok(_) => return Ok(lock),
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(lock.api_error("taking", e)),
            }
        }
        Err(lock.api_error(
            "taking",
            kube::Error::Service("another cockpit changed the lease at the same moment twice".into()),
        ))
    }

    fn lease(&self, resource_version: Option<String>, acquired: Timestamp, renewed: Timestamp) -> Lease {
        let annotations = self.drive.as_ref().map(|d| {
            [
                (DRIVE_ANNOTATION.to_string(), d.clone()),
                (PID_ANNOTATION.to_string(), std::process::id().to_string()),
            ]
            .into()
        });
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version,
                annotations,
                labels: Some([("app.kubernetes.io/managed-by".to_string(), "upshift".to_string())].into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(i32::try_from(self.duration.as_secs()).unwrap_or(30)),
                acquire_time: Some(micro(acquired)),
                renew_time: Some(micro(renewed)),
                ..Default::default()
            }),
        }
    }

    fn api_error(&self, action: &'static str, source: kube::Error) -> LockError {
        let hint = match &source {
            kube::Error::Api(s) if s.code == 403 => {
                " (this identity may not write leases in that namespace: driving needs the lead's RBAC, see docs/rbac/)"
            }
            _ => "",
        };
        LockError::Api {
            action,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
            hint,
        }
    }

    /// Renews the lease; fails with `Lost` if someone else holds it now.
    pub async fn renew(&self) -> Result<(), LockError> {
        let current = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| self.api_error("reading", e))?;
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let their_drive = current
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DRIVE_ANNOTATION))
            .map(String::as_str);
        let other_drive = self.drive.is_some() && their_drive.is_some() && their_drive != self.drive.as_deref();
        if holder != self.identity || other_drive {
            return Err(LockError::Lost {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                holder,
            });
        }
        let acquired = spec.acquire_time.map(|m| m.0).unwrap_or_else(|| (self.now)());
        let lease = self.lease(current.metadata.resource_version.clone(), acquired, (self.now)());
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            // changed between our read and write: whoever changed it is checked next time
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(self.api_error("renewing", e)),
        }
    }

    /// Leaves the lease to operator `to`: it stays held in this holder's name, marked
    /// for `to`, who takes it with the next `upshift drive`; anyone else is refused.
    /// This cockpit no longer renews it.
    pub async fn hand_over(self, to: &str) -> Result<(), LockError> {
        let current = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| self.api_error("reading", e))?;
        let holder = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default();
        if holder != self.identity {
            return Err(LockError::Lost {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                holder,
            });
        }
        let acquired = current
            .spec
            .as_ref()
            .and_then(|s| s.acquire_time.as_ref())
            .map(|m| m.0)
            .unwrap_or_else(|| (self.now)());
        let mut lease = self.lease(current.metadata.resource_version.clone(), acquired, (self.now)());
        lease.metadata.annotations = Some([(HANDED_TO_ANNOTATION.to_string(), to.to_string())].into());
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.api_error("handing over", e))?;
        Ok(())
    }

    /// Gives the lease up (at the end of a rollout, or on a clean exit).
    pub async fn release(self) -> Result<(), LockError> {
        match self.renew().await {
            Err(LockError::Lost { .. }) => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        match self.api.delete(&self.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.api_error("releasing", e)),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The drive's random id the lease holds, if any.
    pub fn drive(&self) -> Option<&str> {
        self.drive.as_deref()
    }
}

/// Another drive than `mine` that holds `lease` and whose process still runs on this
/// machine (the identity, `user@host`, already said it is this host): its id and pid.
/// A lease without a drive id, or whose process is gone, is nobody's to defend.
fn other_live_drive(lease: &Lease, mine: Option<&str>) -> Option<(String, u32)> {
    let annotations = lease.metadata.annotations.as_ref()?;
    let drive = annotations.get(DRIVE_ANNOTATION)?;
    if Some(drive.as_str()) == mine {
        return None;
    }
    let pid: u32 = annotations.get(PID_ANNOTATION)?.parse().ok()?;
    (pid != std::process::id() && process_runs(pid)).then(|| (drive.clone(), pid))
}

/// Whether process `pid` runs on this machine (Linux's /proc; elsewhere, assumed so:
/// the operator is told how to take over).
fn process_runs(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}
