//! What the sim says about which devices to trust: signed key-index lists next to usync
//! device lists (with the stale-companion and forged-signature faults), and the `w:gp2`
//! `<remove>` notification of a group removal made over HTTP.

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::key_index::{KeyIndexError, KeyIndexList, verify_key_index_list};
use whatsapp_sim::Fault;

use super::client::Conn;
use super::{CUSTOMER, OWNER, http, login_active, pair, start, start_silent};

/// A usync device query (with `<lid/>` when `lid`), as clients send it (part 2 §3.1).
pub(super) async fn usync(conn: &mut Conn, users: &[Jid], lid: bool) -> Node {
    let id = conn.next_id();
    let mut query = vec![Node::new("devices").attr("version", "2")];
    if lid {
        query.push(Node::new("lid"));
    }
    let list = users
        .iter()
        .map(|u| Node::new("user").attr("jid", u.clone()));
    conn.iq(Node::new("iq")
        .attr("id", id.clone())
        .attr("xmlns", "usync")
        .attr("type", "get")
        .attr("to", Jid::server_jid())
        .children([Node::new("usync")
            .attr("sid", id)
            .attr("mode", "query")
            .attr("last", "true")
            .attr("index", "0")
            .attr("context", "message")
            .children([
                Node::new("query").children(query),
                Node::new("list").children(list),
            ])]))
    .await
}

/// The `<group>` a group info query answers (part 2 §3.6).
pub(super) async fn group_info(conn: &mut Conn, group: &Jid) -> Node {
    let id = conn.next_id();
    let answer = conn
        .iq(Node::new("iq")
            .attr("id", id)
            .attr("xmlns", "w:g2")
            .attr("type", "get")
            .attr("to", group.clone())
            .children([Node::new("query").attr("request", "interactive")]))
        .await;
    answer.child("group").cloned().expect("<group>")
}

/// A usync device query for one user: its `(device, key-index)` entries and the verified
/// key-index list (or why it does not verify).
async fn devices_of(
    conn: &mut Conn,
    user: &str,
) -> (Vec<(u64, Option<u64>)>, Result<KeyIndexList, KeyIndexError>) {
    let answer = usync(conn, &[Jid::user(user)], false).await;
    let devices = answer
        .path(&["usync", "list", "user", "devices"])
        .expect("devices");
    let listed = devices
        .child("device-list")
        .expect("device-list")
        .children_by_tag("device")
        .map(|d| {
            let a = d.attrs();
            (
                a.u64("id").expect("id"),
                a.optional_u64("key-index").expect("key-index"),
            )
        })
        .collect();
    let signed = devices
        .child("key-index-list")
        .and_then(Node::content_bytes)
        .expect("key-index-list bytes");
    (listed, verify_key_index_list(signed, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_index_lists_follow_the_phone_and_the_faults() {
    let sim = start_silent().await;
    let id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 3, false)
        .expect("customer");

    let (listed, list) = devices_of(&mut conn, CUSTOMER).await;
    let list = list.expect("a list signed by the account key");
    assert_eq!(listed, vec![(0, None), (1, Some(1)), (2, Some(2))]);
    assert_eq!(
        (list.current_index, list.valid_indexes.clone()),
        (2, vec![1, 2])
    );
    // The phone revoked device 2: still listed, no longer vouched for.
    sim.fault(&Fault::StaleCompanion {
        phone: CUSTOMER.into(),
        device: 2,
    })
    .expect("fault");
    let (listed, stale) = devices_of(&mut conn, CUSTOMER).await;
    let stale = stale.expect("still signed");
    assert_eq!(listed.len(), 3);
    assert_eq!(
        (stale.current_index, stale.valid_indexes.clone()),
        (2, vec![1])
    );
    assert!(!stale.keeps(2, Some(2)));
    assert!(stale.keeps(1, Some(1)));
    // Only a companion can go stale.
    assert!(
        sim.fault(&Fault::StaleCompanion {
            phone: CUSTOMER.into(),
            device: 0,
        })
        .is_err()
    );

    sim.fault(&Fault::BadKeyIndexSignature {
        phone: CUSTOMER.into(),
    })
    .expect("fault");
    let (_, forged) = devices_of(&mut conn, CUSTOMER).await;
    assert_eq!(forged, Err(KeyIndexError::BadSignature));
    // Other accounts' lists are untouched.
    let (_, own) = devices_of(&mut conn, OWNER).await;
    assert!(own.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_over_http_is_announced_and_leaves_the_member_out() {
    const OTHER: &str = "201115556667";
    let sim = start().await;
    let id = pair(&sim, OWNER).await;
    let (mut conn, _) = login_active(&sim, &id).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.add_customer(OTHER, "Ali", 1, false).expect("customer");
    let group = sim
        .create_group(CUSTOMER, "Friends", &[OWNER.into(), OTHER.into()], false)
        .expect("group");
    let (created, _) = conn.recv_tag("notification").await;
    assert!(created.child("create").is_some());

    // Only the creator (the sim's one admin) removes others.
    for (by, removed, status) in [(OTHER, CUSTOMER, 400), (CUSTOMER, OTHER, 200)] {
        let body = format!(r#"{{"by":"{by}","group":"{group}","participants":["{removed}"]}}"#);
        let path = "/control/groups/remove";
        let (got, answer) = http(&sim.control_url, "POST", path, Some(&body)).await;
        assert_eq!(got, status, "{answer}");
    }

    let (removed, _) = conn.recv_tag("notification").await;
    let attrs = removed.attrs();
    assert_eq!(attrs.optional_str("type"), Some("w:gp2"));
    assert_eq!(attrs.jid("from").expect("from"), group);
    assert_eq!(attrs.jid("participant").expect("by"), Jid::user(CUSTOMER));
    let gone: Vec<Jid> = removed
        .child("remove")
        .expect("<remove>")
        .children_by_tag("participant")
        .map(|p| {
            assert!(p.attrs().optional_jid("lid").expect("lid").is_some());
            p.attrs().jid("jid").expect("jid")
        })
        .collect();
    assert_eq!(gone, vec![Jid::user(OTHER)]);

    // The group's info no longer lists the removed member.
    let members: Vec<Jid> = group_info(&mut conn, &group)
        .await
        .children_by_tag("participant")
        .map(|p| p.attrs().jid("jid").expect("jid"))
        .collect();
    assert_eq!(members, vec![Jid::user(CUSTOMER), Jid::user(OWNER)]);
}
