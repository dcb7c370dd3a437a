//! Customer records: create, edit, notes, tags, history.

use super::events::LiveEvent;
use super::{App, AppError, not_found};
use crate::db;
use crate::db::customers::{Customer, CustomerNote, CustomerPatch};
use crate::db::tickets::Ticket;
use crate::domain::ids::{CustomerId, UserId};
use crate::domain::phone::normalize_phone;
use serde::Serialize;

/// A customer's history: their tickets (newest first), notes and tags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerHistory {
    /// The customer.
    pub customer: Customer,
    /// Their tickets, newest first.
    pub tickets: Vec<Ticket>,
    /// Internal notes, newest first.
    pub notes: Vec<CustomerNote>,
    /// Tags.
    pub tags: Vec<String>,
}

impl App {
    /// Creates a customer from a phone number in any common spelling (`0100...`, `+20...`,
    /// Arabic-Indic digits). Conflict if the number is known.
    pub async fn create_customer(
        &self,
        phone: &str,
        name: Option<&str>,
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
        let id = db::customers::insert(
            &mut tx,
            Some(phone.as_str()),
            None,
            name,
            None,
            "agent",
            now,
        )
        .await?;
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
            customer,
        })
    }
}
