//! Groups and communities end to end (issue #27 item 1, item 5's group events): each call of
//! our client against the sim, checked on the other side: a second linked client (another
//! account, a member) sees the change as an event, the server's record holds it, and group
//! messages follow the participant list.

use whatsapp_client::groups::{GroupChange, GroupSetting, JoinOutcome, ParticipantOutcome, Role};
use whatsapp_client::{Client, ClientError, Event, EventStream, Jid, ParticipantAction, e2e};
use whatsapp_proto::jid::Server;
use whatsapp_proto::stanza::groups::invite_code;
use whatsapp_proto::stanza::groups::request::{GroupIq, GroupRequest};
use whatsapp_sim::{Sim, SimConfig, SimHandle};

use super::customers::SISTER;
use super::key_index::{devices_of, sent_stanza};
use fixtures::{
    CUSTOMER, OWN_PHONE, config, expect, inbox_until, pair_by_qr, paired, start, temp_db,
};

/// The second linked client's account: a member of our groups.
const MEMBER: &str = "201117778889";

/// The code of a refused call.
fn refused<T: std::fmt::Debug>(result: Result<T, ClientError>) -> u64 {
    match result {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("expected a server refusal, got {other:?}"),
    }
}

/// A sim with our client, a second client for [`MEMBER`], and two simulated customers.
async fn setup(name: &str) -> (SimHandle, Client, EventStream, Client, EventStream) {
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let (client, events) = paired(&sim, &temp_db(&format!("{name}-own")), config(&sim)).await;
    let (member, mut member_events) =
        start(&temp_db(&format!("{name}-member")), config(&sim)).await;
    pair_by_qr(&sim, &mut member_events, MEMBER).await;
    sim.add_customer(CUSTOMER, "Mona", 1, false)
        .expect("customer");
    sim.add_customer(SISTER, "Salma", 1, false)
        .expect("customer");
    (sim, client, events, member, member_events)
}

/// Waits for a participant change of `action`.
async fn participants_event(
    events: &mut EventStream,
    action: ParticipantAction,
) -> whatsapp_client::GroupParticipantsEvent {
    expect(events, &format!("{action:?}"), |e| match e {
        Event::GroupParticipants(c) if c.action == action => Some(c),
        _ => None,
    })
    .await
}

/// Waits for the first group change `pick` accepts.
async fn change_event(
    events: &mut EventStream,
    what: &str,
    pick: impl Fn(&GroupChange) -> bool,
) -> whatsapp_client::GroupChangeEvent {
    expect(events, what, |e| match e {
        Event::GroupChange(c) if pick(&c.change) => Some(*c),
        _ => None,
    })
    .await
}

fn user(phone: &str) -> Jid {
    Jid::user(phone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_change_participants_and_settings_and_members_see_it() {
    let (sim, client, mut events, member, mut member_events) = setup("groups-admin").await;
    let own = user(OWN_PHONE);

    // Create: the member's client is told of the new group, the server holds all three.
    let group = client
        .groups()
        .create("Maadi team", &[user(MEMBER), user(CUSTOMER)])
        .await
        .expect("create");
    assert_eq!(group.subject, "Maadi team");
    assert_eq!(
        group.participant(&own).map(|p| p.role),
        Some(Role::SuperAdmin)
    );
    let created = change_event(&mut member_events, "the new group", |c| {
        matches!(c, GroupChange::Created(_))
    })
    .await;
    assert_eq!(created.group, group.jid);
    assert_eq!(sim.group(&group.jid).expect("held").participants.len(), 3);
    let info = member.groups().info(&group.jid).await.expect("info");
    assert_eq!(
        info.participant(&user(MEMBER)).map(|p| p.role),
        Some(Role::Member)
    );

    // A member who is not an admin is refused (403); an unknown group is 404.
    assert_eq!(
        refused(
            member
                .groups()
                .add_participants(&group.jid, &[user(SISTER)])
                .await
        ),
        403
    );
    assert_eq!(
        refused(
            member
                .groups()
                .set_setting(&group.jid, GroupSetting::Locked(true))
                .await
        ),
        403
    );
    let nowhere = Jid::new("120363999999999999", Server::Group);
    assert_eq!(refused(client.groups().info(&nowhere).await), 404);
    assert_eq!(
        refused(
            client
                .groups()
                .add_participants(&nowhere, &[user(SISTER)])
                .await
        ),
        404
    );

    // Add: one result per participant.
    let results = client
        .groups()
        .add_participants(
            &group.jid,
            &[user(SISTER), user(CUSTOMER), user("209999999999")],
        )
        .await
        .expect("add");
    let outcomes: Vec<ParticipantOutcome> = results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ParticipantOutcome::Ok,
            ParticipantOutcome::AlreadyIn,
            ParticipantOutcome::NotFound
        ]
    );
    let added = participants_event(&mut member_events, ParticipantAction::Added).await;
    assert_eq!(
        (added.participants, added.by),
        (vec![user(SISTER)], Some(own.clone()))
    );

    // Promote: the member sees it, and may now do what was refused.
    let results = client
        .groups()
        .promote(&group.jid, &[user(MEMBER)])
        .await
        .expect("promote");
    assert_eq!(results[0].outcome, ParticipantOutcome::Ok);
    let promoted = participants_event(&mut member_events, ParticipantAction::Promoted).await;
    assert_eq!(promoted.participants, vec![user(MEMBER)]);
    assert_eq!(
        sim.group(&group.jid)
            .and_then(|g| g.participant(&user(MEMBER)).map(|p| p.role)),
        Some(Role::Admin)
    );
    member
        .groups()
        .set_setting(&group.jid, GroupSetting::Locked(true))
        .await
        .expect("an admin locks");
    let locked = change_event(&mut events, "locked", |c| *c == GroupChange::Locked(true)).await;
    assert_eq!(locked.by, Some(user(MEMBER)));

    // Remove: the removed customer gets no more group messages.
    let results = client
        .groups()
        .remove_participants(&group.jid, &[user(CUSTOMER)])
        .await
        .expect("remove");
    assert_eq!(results[0].outcome, ParticipantOutcome::Ok);
    participants_event(&mut member_events, ParticipantAction::Removed).await;
    participants_event(&mut events, ParticipantAction::Removed).await;
    let text = e2e::Message {
        conversation: Some("stock count at 9".into()),
        ..Default::default()
    };
    let id = client.send_message(&group.jid, text).await.expect("send");
    inbox_until(&sim, SISTER, "the message at the sister's", |inbox| {
        inbox.iter().any(|e| e.id == id)
    })
    .await;
    assert!(devices_of(&sent_stanza(&sim, &id), CUSTOMER).is_empty());
    let customer = sim.customer_inbox(CUSTOMER).expect("inbox");
    assert!(
        !customer.iter().any(|e| e.id == id),
        "the removed customer got it"
    );
    // Removing again: 404 for that participant.
    let again = client
        .groups()
        .remove_participants(&group.jid, &[user(CUSTOMER)])
        .await
        .expect("remove");
    assert_eq!(again[0].outcome, ParticipantOutcome::NotFound);

    // Demote: seen by the member, who is refused again.
    client
        .groups()
        .demote(&group.jid, &[user(MEMBER)])
        .await
        .expect("demote");
    participants_event(&mut member_events, ParticipantAction::Demoted).await;
    assert_eq!(
        refused(
            member
                .groups()
                .set_setting(&group.jid, GroupSetting::Locked(false))
                .await
        ),
        403
    );
    // Locked: only admins rename.
    assert_eq!(
        refused(member.groups().set_subject(&group.jid, "Mine now").await),
        403
    );

    // Subject, description (with the previous id), settings: each reaches the member.
    client
        .groups()
        .set_subject(&group.jid, "Maadi night team")
        .await
        .expect("subject");
    change_event(&mut member_events, "the new name", |c| {
        *c == GroupChange::Subject("Maadi night team".into())
    })
    .await;
    client
        .groups()
        .set_description(&group.jid, Some("Shift swaps here"))
        .await
        .expect("description");
    client
        .groups()
        .set_description(&group.jid, Some("Shift swaps, 48h notice"))
        .await
        .expect("second description");
    change_event(&mut member_events, "the description", |c| {
        matches!(c, GroupChange::Description { body: Some(b), .. } if b == "Shift swaps, 48h notice")
    })
    .await;
    // A change naming a stale description is a conflict.
    let stale = GroupRequest::Description {
        id: "X1".into(),
        prev: None,
        body: Some("mine".into()),
    };
    let conflict = sim
        .group_request(OWN_PHONE, GroupIq::new(group.jid.clone(), stale))
        .unwrap_err();
    assert!(conflict.to_string().starts_with("409"), "{conflict}");
    for (setting, change) in [
        (GroupSetting::Announce(true), GroupChange::Announce(true)),
        (
            GroupSetting::JoinApproval(true),
            GroupChange::JoinApproval(true),
        ),
        (
            GroupSetting::Ephemeral(86_400),
            GroupChange::Ephemeral(86_400),
        ),
        (GroupSetting::Ephemeral(0), GroupChange::Ephemeral(0)),
    ] {
        client
            .groups()
            .set_setting(&group.jid, setting)
            .await
            .expect("setting");
        change_event(&mut member_events, &format!("{change:?}"), |c| *c == change).await;
    }
    let held = sim.group(&group.jid).expect("held");
    assert_eq!(held.subject, "Maadi night team");
    assert_eq!(
        held.description.map(|d| d.body).as_deref(),
        Some("Shift swaps, 48h notice")
    );
    assert!(held.announce && held.locked && held.join_approval && held.ephemeral.is_none());
    let read = member.groups().info(&group.jid).await.expect("info");
    assert!(read.announce && read.locked && read.join_approval);

    // Picture: a JPEG is stored, anything else refused (406), removal clears it.
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"fake jpeg body"].concat();
    let picture_id = client
        .groups()
        .set_picture(&group.jid, Some(&jpeg))
        .await
        .expect("picture");
    assert_eq!(
        sim.group_picture(&group.jid),
        picture_id.clone().map(|id| (id, jpeg.clone()))
    );
    assert_eq!(
        refused(
            client
                .groups()
                .set_picture(&group.jid, Some(b"GIF89a"))
                .await
        ),
        406
    );
    assert_eq!(
        client
            .groups()
            .set_picture(&group.jid, None)
            .await
            .expect("remove"),
        None
    );
    assert_eq!(sim.group_picture(&group.jid), None);

    // Leaving: we see the member go.
    member.groups().leave(&group.jid).await.expect("leave");
    let left = participants_event(&mut events, ParticipantAction::Removed).await;
    assert_eq!(
        (left.participants, left.by),
        (vec![user(MEMBER)], Some(user(MEMBER)))
    );
    assert_eq!(refused(member.groups().info(&group.jid).await), 403);
    assert_eq!(refused(member.groups().leave(&group.jid).await), 404);
    member.shutdown().await;
    client.shutdown().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_links_join_requests_and_communities() {
    let (sim, client, mut events, member, mut member_events) = setup("groups-invite").await;
    let group = client
        .groups()
        .create("Zamalek", &[])
        .await
        .expect("create");

    // Invite link: only admins see it; a simulated account joins by it, and we see how.
    let link = client
        .groups()
        .invite_link(&group.jid, false)
        .await
        .expect("link");
    assert!(link.starts_with("https://chat.whatsapp.com/"));
    let preview = member
        .groups()
        .info_from_link(&link)
        .await
        .expect("preview");
    assert_eq!(
        (preview.jid.clone(), preview.subject.as_str()),
        (group.jid.clone(), "Zamalek")
    );
    let join = GroupRequest::JoinByLink {
        code: invite_code(&link).to_owned(),
    };
    sim.group_request(SISTER, GroupIq::server(join))
        .expect("the sister joins");
    let joined = participants_event(&mut events, ParticipantAction::JoinedByLink).await;
    assert_eq!(joined.participants, vec![user(SISTER)]);
    // Our member client joins with the same link.
    let outcome = member.groups().join_with_link(&link).await.expect("join");
    assert_eq!(outcome, JoinOutcome::Joined(group.jid.clone()));
    assert_eq!(refused(member.groups().join_with_link(&link).await), 304);
    assert_eq!(
        refused(member.groups().invite_link(&group.jid, false).await),
        401
    );

    // Reset: the old link is gone (410), members are told the new one, junk is 406.
    let fresh = client
        .groups()
        .invite_link(&group.jid, true)
        .await
        .expect("reset");
    assert_ne!(fresh, link);
    let reset = change_event(&mut member_events, "the reset", |c| {
        matches!(c, GroupChange::InviteReset { .. })
    })
    .await;
    assert_eq!(
        reset.change,
        GroupChange::InviteReset {
            link: fresh.clone()
        }
    );
    assert_eq!(refused(member.groups().info_from_link(&link).await), 410);
    assert_eq!(
        refused(
            member
                .groups()
                .info_from_link("https://chat.whatsapp.com/NoSuchCode1")
                .await
        ),
        406
    );
    assert!(matches!(
        member.groups().join_with_link("not a link").await,
        Err(ClientError::InvalidArgument(_))
    ));

    // Join requests: with approval on, joining asks; the admin lists, approves, rejects.
    client
        .groups()
        .set_setting(&group.jid, GroupSetting::JoinApproval(true))
        .await
        .expect("approval");
    let code = invite_code(&fresh).to_owned();
    const STRANGER: &str = "201119990000";
    sim.add_account(STRANGER, "Stranger").expect("account");
    for who in [CUSTOMER, STRANGER] {
        let ask = GroupRequest::JoinByLink { code: code.clone() };
        let asked = sim.group_request(who, GroupIq::server(ask)).expect("asks");
        assert_eq!(asked[0].tag, "membership_approval_request");
    }
    let requests = client
        .groups()
        .join_requests(&group.jid)
        .await
        .expect("requests");
    assert_eq!(
        requests.iter().map(|r| r.jid.clone()).collect::<Vec<_>>(),
        vec![user(CUSTOMER), user(STRANGER)]
    );
    assert_eq!(
        refused(member.groups().join_requests(&group.jid).await),
        403
    );
    let results = client
        .groups()
        .approve_join_requests(&group.jid, &[user(CUSTOMER), user("209999999999")])
        .await
        .expect("approve");
    assert_eq!(
        results.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [ParticipantOutcome::Ok, ParticipantOutcome::NotFound]
    );
    let approved = participants_event(&mut member_events, ParticipantAction::Added).await;
    assert_eq!(approved.participants, vec![user(CUSTOMER)]);
    assert!(
        sim.group(&group.jid)
            .expect("held")
            .participant(&user(CUSTOMER))
            .is_some()
    );
    let rejected = client
        .groups()
        .reject_join_requests(&group.jid, &[user(STRANGER)])
        .await
        .expect("reject");
    assert_eq!(rejected[0].outcome, ParticipantOutcome::Ok);
    assert!(
        sim.group(&group.jid)
            .expect("held")
            .participant(&user(STRANGER))
            .is_none()
    );
    assert!(
        client
            .groups()
            .join_requests(&group.jid)
            .await
            .expect("requests")
            .is_empty()
    );

    // Communities: create, link (admins of both), list, unlink.
    let community = client
        .groups()
        .create_community("All branches")
        .await
        .expect("community");
    assert!(community.community);
    client
        .groups()
        .link(&community.jid, &group.jid)
        .await
        .expect("link");
    let linked = change_event(&mut member_events, "the link", |c| {
        matches!(c, GroupChange::Linked(_))
    })
    .await;
    assert_eq!(linked.group, community.jid);
    let subs = client
        .groups()
        .sub_groups(&community.jid)
        .await
        .expect("sub groups");
    assert_eq!(
        subs.iter()
            .map(|s| (s.jid.clone(), s.subject.as_str()))
            .collect::<Vec<_>>(),
        [(group.jid.clone(), "Zamalek")]
    );
    assert_eq!(
        client
            .groups()
            .info(&group.jid)
            .await
            .expect("info")
            .linked_parent,
        Some(community.jid.clone())
    );
    assert_eq!(
        refused(client.groups().link(&community.jid, &group.jid).await),
        409
    );
    assert_eq!(
        refused(member.groups().link(&community.jid, &group.jid).await),
        403
    );
    client
        .groups()
        .unlink(&community.jid, &group.jid)
        .await
        .expect("unlink");
    change_event(&mut member_events, "the unlink", |c| {
        matches!(c, GroupChange::Unlinked(_))
    })
    .await;
    assert!(
        client
            .groups()
            .sub_groups(&community.jid)
            .await
            .expect("sub groups")
            .is_empty()
    );
    assert_eq!(
        refused(client.groups().unlink(&community.jid, &group.jid).await),
        404
    );
    let groups = client.groups().joined().await.expect("joined");
    assert_eq!(groups.len(), 2);
    member.shutdown().await;
    client.shutdown().await;
    sim.shutdown();
}
