use super::*;
use crate::domain::pacing::Restriction;

const T0: Timestamp = Timestamp(1_000_000_000_000);
const S: Duration = Duration::from_secs(1);
const FAR: Duration = Duration::from_secs(24 * 3600);
const MID: PlanJitter = PlanJitter {
    gap: 0.5,
    typing: 0.5,
    burst: 0.5,
};

fn req(chat: &str, tier: Tier, chars: usize) -> Request<'_> {
    Request {
        chat,
        tier,
        chars,
        read_first: true,
    }
}

fn go(p: Planned) -> Plan {
    match p {
        Planned::Go(plan) => plan,
        Planned::Later(t) => panic!("not planned: later at {t:?}"),
    }
}

#[test]
fn typing_in_one_chat_does_not_block_another_chat() {
    let policy = PacingPolicy::production();
    let tight = Tightening::default();
    let mut pacer = Pacer::default();
    // A long reply (10 s of typing) and then a short one in another chat.
    let long = go(pacer.plan(&policy, &tight, &req("a", Tier::Active, 400), T0, MID, FAR));
    let short = go(pacer.plan(&policy, &tight, &req("b", Tier::Active, 20), T0, MID, FAR));
    assert_eq!(long.read_at, Some(T0));
    assert_eq!(long.send_at, T0.plus(policy.read_pause + policy.typing_max));
    // The short one goes first, in its own slot, while the long one is still typed.
    let short_earliest = T0.plus(policy.read_pause + policy.typing_time(20, 0.5));
    assert_eq!(short.send_at, short_earliest);
    assert!(short.send_at < long.typing_from.plus(policy.typing_max));
    // The stanzas are still a number-wide gap apart.
    let gap = policy.active_gap + policy.active_gap_jitter.mul_f64(0.5);
    assert!(long.send_at.since(short.send_at) >= gap);
    // A third chat's reply takes the next free slot, not the end of anyone's typing.
    let third = go(pacer.plan(&policy, &tight, &req("c", Tier::Active, 20), T0, MID, FAR));
    assert_eq!(third.send_at, long.send_at.plus(gap));
    assert!(third.read_at.unwrap() < third.typing_from && third.typing_from < third.send_at);
}

#[test]
fn a_chat_gets_a_burst_of_three_then_waits_the_chat_gap() {
    // Short typing and number-wide spacing, so the chat's own spacing shows.
    let policy = PacingPolicy {
        typing_min: Duration::from_millis(200),
        typing_max: Duration::from_millis(200),
        active_gap: Duration::from_millis(100),
        active_gap_jitter: Duration::ZERO,
        ..PacingPolicy::production()
    };
    let tight = Tightening::default();
    let mut pacer = Pacer::default();
    let mut now = T0;
    let mut sends = Vec::new();
    for i in 0..4 {
        let mut r = req("a", Tier::Active, 0);
        r.read_first = i == 0;
        let plan = go(pacer.plan(&policy, &tight, &r, now, MID, FAR));
        // The next message is written once this one went out.
        now = plan.send_at;
        sends.push(plan.send_at);
    }
    let burst = policy.burst_gap.mul_f64(1.5);
    assert_eq!(sends[1].since(sends[0]), burst);
    assert_eq!(sends[2].since(sends[1]), burst);
    assert_eq!(
        sends[3].since(sends[2]),
        policy.chat_gap,
        "after three, the chat rests"
    );
    // A chat that rested starts a new burst.
    let later = sends[3].plus(policy.chat_gap);
    let plan = go(pacer.plan(&policy, &tight, &req("a", Tier::Active, 0), later, MID, FAR));
    let next = go(pacer.plan(
        &policy,
        &tight,
        &req("a", Tier::Active, 0),
        plan.send_at,
        MID,
        FAR,
    ));
    assert_eq!(next.send_at.since(plan.send_at), burst);
}

#[test]
fn outreach_keeps_the_strict_gap_while_active_replies_go_between() {
    let policy = PacingPolicy::production();
    let tight = Tightening::default();
    let mut pacer = Pacer::default();
    let o1 = go(pacer.plan(
        &policy,
        &tight,
        &req("o1", Tier::Outreach, 50),
        T0,
        MID,
        FAR,
    ));
    let o2 = go(pacer.plan(
        &policy,
        &tight,
        &req("o2", Tier::Outreach, 50),
        T0,
        MID,
        FAR,
    ));
    let strict = policy.min_gap + policy.gap_jitter.mul_f64(0.5);
    assert_eq!(o2.send_at.since(o1.send_at), strict);
    let a = go(pacer.plan(&policy, &tight, &req("a", Tier::Active, 50), T0, MID, FAR));
    assert!(a.send_at > o1.send_at && a.send_at < o2.send_at, "{a:?}");
}

#[test]
fn outreach_stays_inside_its_hourly_cap() {
    let policy = PacingPolicy {
        outreach_hour_cap: 3,
        ..PacingPolicy::production()
    };
    let tight = Tightening::default();
    let mut pacer = Pacer::default();
    let sends: Vec<_> = (0..4)
        .map(|i| {
            let chat = format!("o{i}");
            go(pacer.plan(
                &policy,
                &tight,
                &req(&chat, Tier::Outreach, 10),
                T0,
                MID,
                FAR,
            ))
            .send_at
        })
        .collect();
    assert_eq!(sends[3], sends[0].plus(HOUR));
    // Outside the horizon nothing is reserved: the caller is told when to ask again.
    let p = pacer.plan(
        &policy,
        &tight,
        &req("o9", Tier::Outreach, 10),
        T0,
        MID,
        60 * S,
    );
    assert!(
        matches!(p, Planned::Later(t) if t > T0.plus(HOUR - 2 * MINUTE)),
        "{p:?}"
    );
}

#[test]
fn the_number_wide_caps_hold_in_every_minute() {
    let policy = PacingPolicy {
        active_gap: Duration::from_millis(100),
        active_gap_jitter: Duration::ZERO,
        ..PacingPolicy::production()
    };
    let tight = Tightening::default();
    let mut pacer = Pacer::default();
    let mut sends: Vec<_> = (0..30)
        .map(|i| {
            let chat = format!("c{i}");
            go(pacer.plan(&policy, &tight, &req(&chat, Tier::Active, 10), T0, MID, FAR)).send_at
        })
        .collect();
    sends.sort();
    for (i, s) in sends.iter().enumerate() {
        let in_minute = sends[i..]
            .iter()
            .take_while(|t| t.since(*s) < MINUTE)
            .count();
        assert!(
            in_minute <= policy.per_minute_cap as usize,
            "{in_minute} from {s:?}"
        );
    }
}

#[test]
fn tightening_widens_the_gaps_and_blocks_outreach() {
    let policy = PacingPolicy::production();
    let mut tight = Tightening::default();
    tight.on_signal(Restriction::RateLimited, T0);
    let mut pacer = Pacer::default();
    let a = go(pacer.plan(&policy, &tight, &req("a", Tier::Active, 10), T0, MID, FAR));
    let b = go(pacer.plan(&policy, &tight, &req("b", Tier::Active, 10), T0, MID, FAR));
    let gap = policy.active_gap + policy.active_gap_jitter.mul_f64(0.5);
    assert_eq!(b.send_at.since(a.send_at), gap.mul_f64(3.0));
    tight.on_signal(Restriction::NewChatRefused, T0);
    assert_eq!(
        pacer.plan(&policy, &tight, &req("o", Tier::Outreach, 10), T0, MID, FAR),
        Planned::Later(T0.plus(HOUR))
    );
}
