//! Users' device lists: usync queries, the cache, `devices` notifications, and the ADV
//! key-index lists that decide which companions are still linked (part 2 §3.1–3.4).
//!
//! Every list the server gives is screened with the signed key-index list that comes with it
//! ([`whatsapp_proto::key_index`]): a companion the user's phone unlinked (its key index no
//! longer valid) gets no message even while the server still lists it. The list must be
//! signed by the key it names, and by the identity we hold for device 0 when we hold one; a
//! list naming no key is checked with that identity, and with none at all is taken as it is
//! (a guess, see [`verify_key_index_list`]). A list that is missing, does not decode or does not
//! verify leaves only device 0 (WA Web's handling of a result it cannot validate) with a
//! warning; it is cached too, but asked for again after [`UNTRUSTED_REFETCH`] rather than on
//! every send. Hosted devices (`is_hosted`) get 1:1 messages but stay out of group fan-out.

use std::time::{Duration, Instant};

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::{Jid, Server};
use whatsapp_proto::key_index::{
    KeyIndexError, KeyIndexList, screen_devices, verify_key_index_list,
};
use whatsapp_proto::signal::PublicKey;

use crate::ClientError;
use crate::context::{CachedList, KnownDevice, Shared};
use whatsapp_proto::stanza::phash::participant_hash;
use whatsapp_proto::stanza::usync::{UsyncQuery, UsyncResult};

/// How long a list whose key-index list did not verify is reused before it is asked for
/// again: it is cached like any other (each send to the user would otherwise make a usync),
/// but refetched at most once per this interval per user.
pub(crate) const UNTRUSTED_REFETCH: Duration = Duration::from_secs(60);

/// The devices a send fans out to, and those the server lists that we leave out on purpose
/// (companions the key-index list no longer vouches for; hosted devices in groups): the
/// server's participant hash may count them, so they do not make a mismatch.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    pub(crate) devices: Vec<Jid>,
    pub(crate) omitted: Vec<Jid>,
}

impl Fanout {
    /// Leaves hosted devices out (group sends: whatsmeow `send.go prepareMessageNode`).
    pub(crate) fn without_hosted(mut self) -> Fanout {
        let (hosted, devices) = self
            .devices
            .into_iter()
            .partition(|d| matches!(d.server, Server::Hosted | Server::HostedLid));
        self.devices = devices;
        self.omitted.extend::<Vec<Jid>>(hosted);
        self
    }
}

/// Device lists of users, from the cache while fresh (part 2 §3.4: whatsmeow caches them and
/// refreshes on device notifications; here entries also expire after
/// [`crate::Config::device_cache_ttl`], and untrusted ones after [`UNTRUSTED_REFETCH`]).
pub(crate) async fn device_lists(shared: &Shared, users: &[Jid]) -> Result<Fanout, ClientError> {
    let ttl = shared.config.device_cache_ttl;
    let mut out = Fanout::default();
    let mut missing = Vec::new();
    {
        let cache = shared
            .device_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for user in users {
            match cache.get(&user.to_non_ad().to_string()) {
                Some(list)
                    if list.fetched.elapsed()
                        < if list.trusted {
                            ttl
                        } else {
                            ttl.min(UNTRUSTED_REFETCH)
                        } =>
                {
                    out.devices
                        .extend(list.devices.iter().map(|d| d.jid.clone()));
                    out.omitted.extend(list.omitted.iter().cloned());
                }
                _ => missing.push(user.clone()),
            }
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let fetched = query_device_lists(shared, &missing).await?;
    let now = Instant::now();
    let mut cache = shared
        .device_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for (user, list) in fetched {
        out.devices
            .extend(list.devices.iter().map(|d| d.jid.clone()));
        out.omitted.extend(list.omitted.iter().cloned());
        cache.insert(
            user.to_string(),
            CachedList {
                fetched: now,
                ..list
            },
        );
    }
    Ok(out)
}

/// Forgets the cached device list of a user (a device notification, a message or retry from
/// a device the list lacks).
pub(crate) fn forget_devices(shared: &Shared, user: &Jid) {
    shared
        .device_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&user.to_non_ad().to_string());
}

/// Whether the cached device list of the device's user lacks it.
pub(crate) fn unknown_device(shared: &Shared, device: &Jid) -> bool {
    let cache = shared
        .device_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .get(&device.to_non_ad().to_string())
        .is_some_and(|list| !list.devices.iter().any(|d| d.jid.device == device.device))
}

/// The identity we hold for the user's primary device, if any.
async fn primary_identity(shared: &Shared, user: &Jid) -> Option<PublicKey> {
    let address = user.to_non_ad().with_device(0).signal_address();
    match shared.sessions.identity_unlocked(&address).await {
        Ok(key) => key.map(PublicKey::from_raw),
        Err(e) => {
            tracing::warn!(%user, error = %e, "reading the primary's identity failed");
            None
        }
    }
}

/// Screens one user's device list with its key-index list: the devices kept, those left
/// out, and whether the list was trusted.
async fn screen(
    shared: &Shared,
    user: &Jid,
    devices: Vec<KnownDevice>,
    signed: Option<&[u8]>,
) -> CachedList {
    let primary = primary_identity(shared, user).await;
    let listed: Vec<Jid> = devices.iter().map(|d| d.jid.clone()).collect();
    let (kept, problem) = screen_devices(devices, KnownDevice::id, signed, primary.as_ref());
    let omitted: Vec<Jid> = listed
        .into_iter()
        .filter(|j| !kept.iter().any(|k| k.jid == *j))
        .collect();
    match &problem {
        Some(e) => tracing::warn!(
            %user,
            error = %e,
            left_out = omitted.len(),
            "unusable key-index list: sending to the primary device only"
        ),
        None if !omitted.is_empty() => {
            tracing::info!(%user, dropped = omitted.len(), "companions the phone unlinked are left out");
        }
        None => {}
    }
    CachedList {
        fetched: Instant::now(),
        devices: kept,
        omitted,
        trusted: problem.is_none(),
    }
}

/// A usync device query (part 2 §3.1–3.2): each user with its screened list. Hosted devices
/// (`is_hosted`) are addressed on the hosted servers (whatsmeow `user.go parseDeviceList`).
async fn query_device_lists(
    shared: &Shared,
    users: &[Jid],
) -> Result<Vec<(Jid, CachedList)>, ClientError> {
    // A request id, as whatsmeow's `sid` (`user.go`).
    let sid = shared.request_ids.next();
    let answer = shared.iq(UsyncQuery::devices(sid, users).iq()).await?;
    let result = UsyncResult::parse(&answer)
        .map_err(|_| ClientError::unexpected("no usync list", &answer))?;
    let mut out = Vec::new();
    for user in result.users {
        let jid = user.jid.to_non_ad();
        let Some(list) = user.devices else {
            continue;
        };
        let listed = list
            .devices
            .iter()
            .map(|d| KnownDevice {
                jid: device_jid(&jid, d.id, d.hosted),
                key_index: d.key_index,
            })
            .collect();
        let signed = list.key_index_list.as_ref().map(|k| k.signed.as_slice());
        let screened = screen(shared, &jid, listed, signed).await;
        out.push((jid, screened));
    }
    Ok(out)
}

/// A listed device's JID: on the user's server, or its hosted counterpart.
fn device_jid(user: &Jid, device: u16, hosted: bool) -> Jid {
    let mut jid = user.clone().with_device(device);
    if hosted {
        jid.server = match user.server {
            Server::Lid => Server::HostedLid,
            _ => Server::Hosted,
        };
    }
    jid
}

/// What a `devices` notification says (part 2 §3.4; one operation, remove before add before
/// update, as whatsapp-rust `wacore/src/stanza/devices.rs` follows WA Web).
#[derive(Debug, PartialEq, Eq)]
enum DeviceChange<'a> {
    /// Devices unlinked.
    Remove(Vec<Jid>),
    /// A device linked, with its key index and the account's new signed key-index list.
    Add {
        device: Jid,
        key_index: Option<u32>,
        signed: Option<&'a [u8]>,
    },
    /// Anything else (`update`, unknown): the list is to be fetched again.
    Other,
}

fn parse_change(node: &Node) -> DeviceChange<'_> {
    let devices = |op: &Node| -> Vec<Jid> {
        op.children_by_tag("device")
            .filter_map(|d| d.attrs().jid("jid").ok())
            .collect()
    };
    if let Some(remove) = node.child("remove") {
        return DeviceChange::Remove(devices(remove));
    }
    if let Some(add) = node.child("add")
        && let Some(device) = add.child("device")
        && let Ok(jid) = device.attrs().jid("jid")
    {
        return DeviceChange::Add {
            device: jid,
            key_index: device
                .attrs()
                .optional_u64("key-index")
                .ok()
                .flatten()
                .and_then(|k| u32::try_from(k).ok()),
            signed: add.child("key-index-list").and_then(Node::content_bytes),
        };
    }
    DeviceChange::Other
}

/// Applies a `devices` notification to the cached list of its user (when there is one; else
/// the next send fetches the list). An added device joins only under a verified key-index
/// list that accepts it, and that list also prunes companions the phone unlinked meanwhile;
/// an unusable list drops the cached entry, so the next send asks (and screens) again.
pub(crate) async fn on_devices_notification(shared: &Shared, node: &Node) {
    let Ok(from) = node.attrs().jid("from") else {
        return;
    };
    let user = from.to_non_ad();
    let key = user.to_string();
    let verified = match parse_change(node) {
        DeviceChange::Add {
            signed: Some(bytes),
            ..
        } => {
            let primary = primary_identity(shared, &user).await;
            Some(verify_key_index_list(bytes, primary.as_ref()))
        }
        _ => None,
    };
    if let Some(Err(e)) = &verified {
        tracing::warn!(%user, error = %e, "unusable key-index list in a devices notification");
    }
    let mut cache = shared
        .device_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let Some(cached) = cache.get_mut(&key) else {
        return;
    };
    if !apply_change(&mut cached.devices, &user, parse_change(node), verified)
        || !notified_hash_matches(&cached.devices, node)
    {
        cache.remove(&key);
    }
}

/// Whether the list as changed has the `device_hash` the notification's change names
/// (whatsmeow notification.go `handleDeviceNotification`: a mismatch, or no hash, means
/// our list was stale, so it is dropped and fetched again at the next send).
fn notified_hash_matches(devices: &[KnownDevice], node: &Node) -> bool {
    let Some(expected) = ["remove", "add"]
        .into_iter()
        .find_map(|op| node.child(op))
        .and_then(|change| change.attrs().optional_str("device_hash"))
    else {
        return false;
    };
    let jids: Vec<Jid> = devices.iter().map(|d| d.jid.clone()).collect();
    let ours = participant_hash(&jids);
    if ours != expected {
        tracing::warn!(
            expected,
            ours,
            "a device list no longer matches its devices notification"
        );
    }
    ours == expected
}

/// Applies a device change to a cached list; false when the entry is to be dropped instead
/// (an update, or an added device without a usable key-index list).
fn apply_change(
    devices: &mut Vec<KnownDevice>,
    user: &Jid,
    change: DeviceChange<'_>,
    verified: Option<Result<KeyIndexList, KeyIndexError>>,
) -> bool {
    match (change, verified) {
        (DeviceChange::Remove(gone), _) => {
            devices.retain(|d| !gone.iter().any(|g| g.device == d.jid.device));
            true
        }
        (
            DeviceChange::Add {
                device, key_index, ..
            },
            Some(Ok(list)),
        ) => {
            devices.retain(|d| list.keeps(d.jid.device, d.key_index));
            if list.keeps(device.device, key_index)
                && !devices.iter().any(|d| d.jid.device == device.device)
            {
                devices.push(KnownDevice {
                    jid: user.clone().with_device(device.device),
                    key_index,
                });
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_change_a_cached_list_under_a_verified_key_index_list() {
        use rand::SeedableRng;
        use whatsapp_proto::key_index::sign_key_index_list;
        use whatsapp_proto::signal::KeyPair;
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let account = KeyPair::generate(&mut rng);
        let user = Jid::user("201000000001".to_owned());
        let known = |d: u16, k: Option<u32>| KnownDevice {
            jid: user.clone().with_device(d),
            key_index: k,
        };
        let cached = vec![known(0, None), known(1, Some(1)), known(2, Some(2))];
        // Device 3 linked (key index 3); the phone unlinked device 1 meanwhile.
        let signed = sign_key_index_list(&account, 7, 100, 3, &[2, 3], &mut rng);
        let add = || DeviceChange::Add {
            device: user.clone().with_device(3),
            key_index: Some(3),
            signed: None,
        };
        let list = verify_key_index_list(&signed, Some(&account.public));
        let mut devices = cached.clone();
        assert!(apply_change(&mut devices, &user, add(), Some(list.clone())));
        assert_eq!(
            devices,
            vec![known(0, None), known(2, Some(2)), known(3, Some(3))]
        );
        // A list that does not vouch for the new device: it is not added.
        let without = sign_key_index_list(&account, 7, 100, 4, &[2], &mut rng);
        let mut devices = cached.clone();
        let list = verify_key_index_list(&without, None);
        assert!(apply_change(&mut devices, &user, add(), Some(list)));
        assert_eq!(devices, vec![known(0, None), known(2, Some(2))]);
        // Unusable or absent list, or an update: the entry goes (the next send asks again).
        let stranger = KeyPair::generate(&mut rng);
        let forged = sign_key_index_list(&stranger, 7, 100, 3, &[1, 2, 3], &mut rng);
        let list = verify_key_index_list(&forged, Some(&account.public));
        assert!(list.is_err());
        assert!(!apply_change(&mut cached.clone(), &user, add(), Some(list)));
        assert!(!apply_change(&mut cached.clone(), &user, add(), None));
        assert!(!apply_change(
            &mut cached.clone(),
            &user,
            DeviceChange::Other,
            None
        ));
        // A removal needs no list.
        let mut devices = cached.clone();
        let gone = DeviceChange::Remove(vec![user.clone().with_device(1)]);
        assert!(apply_change(&mut devices, &user, gone, None));
        assert_eq!(devices, vec![known(0, None), known(2, Some(2))]);
    }

    #[test]
    fn a_list_whose_hash_differs_from_the_notifications_is_dropped() {
        let user = Jid::user("201000000001".to_owned());
        let known = |d: u16| KnownDevice {
            jid: user.clone().with_device(d),
            key_index: None,
        };
        let devices = vec![known(0), known(2)];
        let hash = participant_hash(&[user.clone(), user.clone().with_device(2)]);
        let removal = |hash: Option<&str>| {
            Node::new("notification").children([Node::new("remove")
                .attr_opt("device_hash", hash.map(str::to_owned))
                .children([Node::new("device").attr("jid", user.clone().with_device(1))])])
        };
        assert!(notified_hash_matches(&devices, &removal(Some(&hash))));
        // The server counts a device our list lacks: stale.
        assert!(!notified_hash_matches(&devices[..1], &removal(Some(&hash))));
        assert!(!notified_hash_matches(&devices, &removal(None)));
    }

    #[test]
    fn notifications_read_remove_before_add() {
        let dev = |d: u16| Jid::user("201000000001".to_owned()).with_device(d);
        let both = Node::new("notification").children([
            Node::new("add").children([Node::new("device")
                .attr("jid", dev(5))
                .attr("key-index", "4")]),
            Node::new("remove").children([Node::new("device").attr("jid", dev(2))]),
        ]);
        assert_eq!(parse_change(&both), DeviceChange::Remove(vec![dev(2)]));
        let add = Node::new("notification").children([Node::new("add").children([
            Node::new("device")
                .attr("jid", dev(5))
                .attr("key-index", "4"),
            Node::new("key-index-list").bytes(vec![1, 2]),
        ])]);
        assert_eq!(
            parse_change(&add),
            DeviceChange::Add {
                device: dev(5),
                key_index: Some(4),
                signed: Some(&[1u8, 2][..]),
            }
        );
        let update = Node::new("notification").children([Node::new("update").attr("hash", "2:x")]);
        assert_eq!(parse_change(&update), DeviceChange::Other);
    }
}
