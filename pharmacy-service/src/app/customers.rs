//! Customer records: create, edit, notes, tags, history.

use super::access::Caller;
use super::events::LiveEvent;
use super::{App, AppError, not_found};
use crate::db;
use crate::db::customers::{Customer, CustomerNote, CustomerPatch, Rating};
use crate::db::tickets::Ticket;
use crate::domain::ids::{CustomerId, UserId};
use crate::domain::phone::normalize_phone;
use serde::Serialize;

/// A customer's history: their tickets (newest first), notes, tags and ratings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerHistory {
    /// The customer.
    pub customer: Customer,
    /// Their tickets, newest first.
    pub tickets: Vec<Ticket>,
    /// Internal notes, newest first.
    pub notes: Vec<CustomerNote>,
    /// Tags.
    pub tags: Vec<String>,
    /// Satisfaction ratings, newest first.
    pub ratings: Vec<Rating>,
}

/// One customer with tags and notes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerDetail {
    /// The customer.
    pub customer: Customer,
    /// Tags.
    pub tags: Vec<String>,
    /// Internal notes, newest first.
    pub notes: Vec<CustomerNote>,
}

impl App {
    /// Creates a customer from a phone number in any common spelling (`0100...`, `+20...`,
    /// Arabic-Indic digits) with the given name, e-mail and home branch, in one transaction:
    /// an unknown branch leaves no customer behind. Conflict if the number is known.
    pub async fn create_customer(
        &self,
        phone: &str,
        details: &CustomerPatch,
        by: UserId,
    ) -> Result<Customer, AppError> {
        let phone = normalize_phone(phone).map_err(|e| AppError::Invalid {
            field: "phone",
            message: e.to_string(),
        })?;
        let now = self.now();
        let mut tx = self.begin().await?;
        if db::customers::by_phone(&mut tx, phone.as_str())
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!("customer {phone} exists")));
        }
        if let Some(b) = details.home_branch_id {
            db::branches::by_id(&mut tx, b)
                .await?
                .ok_or_else(|| not_found("branch", b.0))?;
        }
        let id = db::customers::insert(
            &mut tx,
            Some(phone.as_str()),
            None,
            details.name.as_deref(),
            None,
            "agent",
            now,
        )
        .await?;
        if details.email.is_some() || details.home_branch_id.is_some() {
            db::customers::patch(&mut tx, id, details, now).await?;
        }
        db::customers::set_created_by(&mut tx, id, by).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "customer.created",
            Some(("customer", id.0)),
            None,
            now,
        )
        .await?;
        let cu = db::customers::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        tx.commit().await?;
        self.publish_all(vec![LiveEvent::NewCustomer {
            customer: cu.clone(),
        }]);
        Ok(cu)
    }

    /// Edits name, e-mail and home branch.
    pub async fn patch_customer(
        &self,
        id: CustomerId,
        patch: &CustomerPatch,
        by: UserId,
    ) -> Result<Customer, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        if let Some(b) = patch.home_branch_id {
            db::branches::by_id(&mut tx, b)
                .await?
                .ok_or_else(|| not_found("branch", b.0))?;
        }
        if !db::customers::patch(&mut tx, id, patch, now).await? {
            return Err(not_found("customer", id.0));
        }
        db::activity::log(
            &mut tx,
            Some(by),
            "customer.updated",
            Some(("customer", id.0)),
            None,
            now,
        )
        .await?;
        let cu = db::customers::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        tx.commit().await?;
        Ok(cu)
    }

    /// Adds an internal note about a customer.
    pub async fn add_customer_note(
        &self,
        id: CustomerId,
        by: UserId,
        body: &str,
    ) -> Result<CustomerNote, AppError> {
        super::check_note_body(body)?;
        let now = self.now();
        let mut tx = self.begin().await?;
        db::customers::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        let nid = db::customers::add_note(&mut tx, id, by, body, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "customer.note",
            Some(("customer", id.0)),
            None,
            now,
        )
        .await?;
        let note = db::customers::notes(&mut tx, id)
            .await?
            .into_iter()
            .find(|n| n.id == nid)
            .ok_or_else(|| not_found("note", nid))?;
        tx.commit().await?;
        Ok(note)
    }

    /// Tags a customer (idempotent); returns all their tags.
    pub async fn add_customer_tag(
        &self,
        id: CustomerId,
        by: UserId,
        tag: &str,
    ) -> Result<Vec<String>, AppError> {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > 64 {
            return Err(AppError::Invalid {
                field: "tag",
                message: "1 to 64 characters".into(),
            });
        }
        let now = self.now();
        let mut tx = self.begin().await?;
        db::customers::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        db::customers::add_tag(&mut tx, id, tag, now).await?;
        db::activity::log(
            &mut tx,
            Some(by),
            "customer.tag",
            Some(("customer", id.0)),
            Some(&serde_json::json!({ "tag": tag })),
            now,
        )
        .await?;
        let tags = db::customers::tags(&mut tx, id).await?;
        tx.commit().await?;
        Ok(tags)
    }

    /// Removes a customer's tag (idempotent: a tag they do not have is no error); answers the
    /// tags left. The removal is in the activity log.
    pub async fn remove_customer_tag(
        &self,
        id: CustomerId,
        by: UserId,
        tag: &str,
    ) -> Result<Vec<String>, AppError> {
        let now = self.now();
        let mut tx = self.begin().await?;
        db::customers::by_id(&mut tx, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        if db::customers::remove_tag(&mut tx, id, tag).await? {
            db::activity::log(
                &mut tx,
                Some(by),
                "customer.untag",
                Some(("customer", id.0)),
                Some(&serde_json::json!({ "tag": tag })),
                now,
            )
            .await?;
        }
        let tags = db::customers::tags(&mut tx, id).await?;
        tx.commit().await?;
        Ok(tags)
    }

    /// A customer with their tickets, notes and tags.
    pub async fn customer_history(&self, id: CustomerId) -> Result<CustomerHistory, AppError> {
        let mut c = self.read().await?;
        let customer = db::customers::by_id(&mut c, id)
            .await?
            .ok_or_else(|| not_found("customer", id.0))?;
        Ok(CustomerHistory {
            tickets: db::tickets::for_customer(&mut c, id).await?,
            notes: db::customers::notes(&mut c, id).await?,
            tags: db::customers::tags(&mut c, id).await?,
            ratings: db::customers::ratings(&mut c, id).await?,
            customer,
        })
    }

    /// A customer the caller may see, with tags and notes.
    pub async fn customer_detail(
        &self,
        who: &Caller,
        id: CustomerId,
    ) -> Result<CustomerDetail, AppError> {
        let customer = self.readable_customer(who, id).await?;
        let mut c = self.read().await?;
        Ok(CustomerDetail {
            tags: db::customers::tags(&mut c, id).await?,
            notes: db::customers::notes(&mut c, id).await?,
            customer,
        })
    }

    /// Customers, newest first, after `before` (cursor = id), matching `text` if given (then
    /// ranked, without a cursor): admins all of them, agents the ones they serve now.
    pub async fn customers_page(
        &self,
        who: &Caller,
        text: Option<&str>,
        before: Option<CustomerId>,
        limit: i64,
    ) -> Result<Vec<Customer>, AppError> {
        let mut rows = if who.admin {
            match text {
                Some(t) => self.search_customers(t, limit).await?,
                None => db::customers::list(&mut *self.read().await?, before, limit).await?,
            }
        } else {
            let Some(agent) = who.agent_id else {
                return Ok(Vec::new());
            };
            let mut c = self.read().await?;
            let served = db::customers::served_by(&mut c, agent, before, limit).await?;
            drop(c);
            match text {
                Some(t) => {
                    let found = self.search_customers(t, 500).await?;
                    served
                        .into_iter()
                        .filter(|c| found.iter().any(|f| f.id == c.id))
                        .collect()
                }
                None => served,
            }
        };
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(rows)
    }
}
