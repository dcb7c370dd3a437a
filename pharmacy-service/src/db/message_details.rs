//! The structured parts of a message, in tables of their own: a poll's options and each
//! voter's choice, the cards of a contact message, the positions of a live location, the
//! earlier texts of an edited message. Read with the messages ([`fill`]).

use super::Conn;
use super::messages::Message;
use crate::domain::ids::{CustomerId, MessageId};
use crate::domain::message::MessageKind;
use crate::domain::time::Timestamp;
use serde::Serialize;
use std::collections::HashMap;

/// A poll's options and their votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Poll {
    /// How many options a voter may pick (0: any number).
    pub selectable: u32,
    /// The options, in the poll's order.
    pub options: Vec<PollOption>,
    /// How many people voted (their current choice).
    pub voters: u32,
}

/// One option of a poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PollOption {
    /// Its name.
    pub name: String,
    /// How many voters picked it.
    pub votes: u32,
}

/// One contact card of a contact message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContactCard {
    /// The name the sender's phone shows for it.
    pub display_name: Option<String>,
    /// The phone numbers of its vCard (`TEL` lines), as written there.
    pub phones: Vec<String>,
    /// The vCard as sent.
    pub vcard: Option<String>,
}

/// An earlier text of an edited message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MessageEdit {
    /// The text before this edit.
    pub old_body: Option<String>,
    /// When the edit was made.
    pub at: Timestamp,
}

/// Stores a poll's options (positions 0, 1, …).
pub async fn insert_poll_options(
    c: &mut Conn,
    message: MessageId,
    options: &[String],
) -> Result<(), sqlx::Error> {
    for (position, name) in options.iter().enumerate() {
        sqlx::query(
            "INSERT INTO message_poll_options (message_id, position, name) VALUES (?, ?, ?)",
        )
        .bind(message)
        .bind(position as i64)
        .bind(name)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// A poll's option names, in order.
pub async fn poll_options(c: &mut Conn, message: MessageId) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT name FROM message_poll_options WHERE message_id = ? ORDER BY position",
    )
    .bind(message)
    .fetch_all(&mut *c)
    .await
}

/// Replaces the voter's choice on a poll with `positions` (empty: the vote withdrawn).
pub async fn set_vote(
    c: &mut Conn,
    message: MessageId,
    voter: CustomerId,
    positions: &[usize],
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM message_poll_votes WHERE message_id = ? AND customer_id = ?")
        .bind(message)
        .bind(voter)
        .execute(&mut *c)
        .await?;
    for p in positions {
        sqlx::query(
            "INSERT OR IGNORE INTO message_poll_votes (message_id, customer_id, position, at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(message)
        .bind(voter)
        .bind(*p as i64)
        .bind(at)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Stores the cards of a contact message, in order.
pub async fn insert_contacts(
    c: &mut Conn,
    message: MessageId,
    cards: &[(Option<String>, Option<String>)],
) -> Result<(), sqlx::Error> {
    for (position, (name, vcard)) in cards.iter().enumerate() {
        sqlx::query(
            "INSERT INTO message_contacts (message_id, position, display_name, vcard) VALUES (?, ?, ?, ?)",
        )
        .bind(message)
        .bind(position as i64)
        .bind(name)
        .bind(vcard)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// A live location's position: the first one, or an update (`wa_id` of the message that
/// carried it). Returns false when this `wa_id` was recorded already (a redelivery).
pub async fn add_live_position(
    c: &mut Conn,
    message: MessageId,
    wa_id: &str,
    (latitude, longitude): (f64, f64),
    sequence: Option<i64>,
    at: Timestamp,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query(
        "INSERT OR IGNORE INTO live_location_updates (message_id, wa_id, latitude, longitude, sequence, at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(message)
    .bind(wa_id)
    .bind(latitude)
    .bind(longitude)
    .bind(sequence)
    .bind(at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(added > 0)
}

/// Whether a live-location update with this WhatsApp id was recorded.
pub async fn live_position_known(c: &mut Conn, wa_id: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query_scalar::<_, i64>("SELECT 1 FROM live_location_updates WHERE wa_id = ?")
            .bind(wa_id)
            .fetch_optional(&mut *c)
            .await?
            .is_some(),
    )
}

/// The customers' latest live location: its message, when it started and the highest
/// sequence number seen.
pub async fn latest_live_location(
    c: &mut Conn,
    customers: &[CustomerId],
) -> Result<Option<(MessageId, Timestamp, Option<i64>)>, sqlx::Error> {
    if customers.is_empty() {
        return Ok(None);
    }
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "SELECT m.id, m.created_at, (SELECT max(u.sequence) FROM live_location_updates u WHERE u.message_id = m.id)
         FROM messages m WHERE m.kind = 'live_location' AND m.direction = 'in' AND m.customer_id IN (",
    );
    let mut sep = q.separated(", ");
    for id in customers {
        sep.push_bind(*id);
    }
    sep.push_unseparated(") ORDER BY m.id DESC LIMIT 1");
    q.build_query_as().fetch_optional(&mut *c).await
}

/// Moves a live location to its newest position.
pub async fn move_live_location(
    c: &mut Conn,
    message: MessageId,
    (latitude, longitude): (f64, f64),
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE messages SET latitude = ?, longitude = ?, location_updated_at = ? WHERE id = ?",
    )
    .bind(latitude)
    .bind(longitude)
    .bind(at)
    .bind(message)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The phone numbers of a vCard's `TEL` lines (the value after the last colon; WhatsApp
/// writes `TEL;type=CELL;waid=2010…:+20 10…`).
pub fn vcard_phones(vcard: &str) -> Vec<String> {
    vcard
        .lines()
        // A property may carry a group prefix (`item1.TEL`).
        .map(|l| match l.split_once('.') {
            Some((group, rest)) if !group.contains([':', ';']) => rest,
            _ => l,
        })
        .filter(|l| l.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("TEL")))
        .filter_map(|l| l.rsplit_once(':').map(|(_, n)| n.trim().to_owned()))
        .filter(|n| !n.is_empty())
        .collect()
}

fn in_list(ids: &[MessageId]) -> String {
    ids.iter()
        .map(|i| i.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds the structured parts to the polls, contact messages and edited messages of `rows`.
pub async fn fill(c: &mut Conn, rows: &mut [Message]) -> Result<(), sqlx::Error> {
    let ids_of = |rows: &[Message], pick: fn(&Message) -> bool| -> Vec<MessageId> {
        rows.iter().filter(|m| pick(m)).map(|m| m.id).collect()
    };
    // The ids are integers of our own rows: listing them inline is safe.
    let polls = ids_of(rows, |m| m.kind == MessageKind::Poll);
    if !polls.is_empty() {
        let list = in_list(&polls);
        let options: Vec<(MessageId, i64, String)> = sqlx::query_as(&format!(
            "SELECT message_id, position, name FROM message_poll_options
             WHERE message_id IN ({list}) ORDER BY message_id, position"
        ))
        .fetch_all(&mut *c)
        .await?;
        let votes: Vec<(MessageId, i64, i64)> = sqlx::query_as(&format!(
            "SELECT message_id, position, count(*) FROM message_poll_votes
             WHERE message_id IN ({list}) GROUP BY message_id, position"
        ))
        .fetch_all(&mut *c)
        .await?;
        let voters: Vec<(MessageId, i64)> = sqlx::query_as(&format!(
            "SELECT message_id, count(DISTINCT customer_id) FROM message_poll_votes
             WHERE message_id IN ({list}) GROUP BY message_id"
        ))
        .fetch_all(&mut *c)
        .await?;
        let selectable: Vec<(MessageId, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT id, poll_selectable FROM messages WHERE id IN ({list})"
        ))
        .fetch_all(&mut *c)
        .await?;
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        for m in rows.iter_mut().filter(|m| m.kind == MessageKind::Poll) {
            let tally: HashMap<i64, i64> = votes
                .iter()
                .filter(|v| v.0 == m.id)
                .map(|v| (v.1, v.2))
                .collect();
            m.poll = Some(Poll {
                selectable: selectable
                    .iter()
                    .find(|s| s.0 == m.id)
                    .and_then(|s| s.1)
                    .map_or(0, count),
                options: options
                    .iter()
                    .filter(|o| o.0 == m.id)
                    .map(|o| PollOption {
                        name: o.2.clone(),
                        votes: count(tally.get(&o.1).copied().unwrap_or(0)),
                    })
                    .collect(),
                voters: voters
                    .iter()
                    .find(|v| v.0 == m.id)
                    .map_or(0, |v| count(v.1)),
            });
        }
    }
    let contacts = ids_of(rows, |m| m.kind == MessageKind::Contact);
    if !contacts.is_empty() {
        let cards: Vec<(MessageId, Option<String>, Option<String>)> = sqlx::query_as(&format!(
            "SELECT message_id, display_name, vcard FROM message_contacts
             WHERE message_id IN ({}) ORDER BY message_id, position",
            in_list(&contacts)
        ))
        .fetch_all(&mut *c)
        .await?;
        for (id, name, vcard) in cards {
            if let Some(m) = rows.iter_mut().find(|m| m.id == id) {
                m.contacts.push(ContactCard {
                    phones: vcard.as_deref().map(vcard_phones).unwrap_or_default(),
                    display_name: name,
                    vcard,
                });
            }
        }
    }
    let edited = ids_of(rows, |m| m.edited_at.is_some());
    if !edited.is_empty() {
        let edits: Vec<(MessageId, Option<String>, Timestamp)> = sqlx::query_as(&format!(
            "SELECT message_id, old_body, at FROM message_edits
             WHERE message_id IN ({}) ORDER BY message_id, id",
            in_list(&edited)
        ))
        .fetch_all(&mut *c)
        .await?;
        for (id, old_body, at) in edits {
            if let Some(m) = rows.iter_mut().find(|m| m.id == id) {
                m.edits.push(MessageEdit { old_body, at });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::vcard_phones;

    #[test]
    fn a_vcards_numbers_are_its_tel_lines() {
        let card = "BEGIN:VCARD\nVERSION:3.0\nFN:Dr. Hany\nTEL;type=CELL;waid=201001112223:+20 100 111 2223\nitem1.TEL:0223456789\nEND:VCARD";
        assert_eq!(vcard_phones(card), ["+20 100 111 2223", "0223456789"]);
        assert!(vcard_phones("FN:x").is_empty());
    }
}
