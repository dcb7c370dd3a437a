//! When each caller last got the automatic reply to a call (at most one per window).

use super::Conn;
use crate::domain::ids::CustomerId;
use crate::domain::time::Timestamp;
use std::time::Duration;

/// Claims the reply to `customer`'s call at `now`: false when they got one less than
/// `window` ago. One statement, so two calls handled at once cannot both claim it.
pub async fn claim(
    c: &mut Conn,
    customer: CustomerId,
    now: Timestamp,
    window: Duration,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO call_replies (customer_id, sent_at) VALUES (?1, ?2)
         ON CONFLICT (customer_id) DO UPDATE SET sent_at = excluded.sent_at
         WHERE call_replies.sent_at <= ?3",
    )
    .bind(customer)
    .bind(now)
    .bind(now.minus(window))
    .execute(&mut *c)
    .await?;
    Ok(r.rows_affected() == 1)
}
