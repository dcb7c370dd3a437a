//! Communities: linking a group to a community, unlinking it, and listing a community's
//! groups (whatsmeow `group.go LinkGroup`, `UnlinkGroup`, `GetSubGroups`).

use whatsapp_proto::binary::Node;
use whatsapp_proto::jid::Jid;
use whatsapp_proto::stanza::groups::change::GroupChange;
use whatsapp_proto::stanza::groups::request::SubGroup;

use super::super::State;
use super::manage::{CONFLICT, NOT_FOUND, Refusal};

impl State {
    /// A group as a community's list names it.
    pub(super) fn sub_group(&self, gid: &str) -> SubGroup {
        let subject = self
            .groups
            .get(gid)
            .map(|g| g.subject.clone())
            .unwrap_or_default();
        SubGroup::new(Jid::new(gid, whatsapp_proto::jid::Server::Group), subject)
    }

    /// Members of the community and of the group: who hears of a link change.
    fn link_audience(&self, parent: &str, child: &str) -> Vec<String> {
        let mut to: Vec<String> = Vec::new();
        for gid in [parent, child] {
            for p in self
                .groups
                .get(gid)
                .map(|g| g.participants.clone())
                .unwrap_or_default()
            {
                if !to.contains(&p) {
                    to.push(p);
                }
            }
        }
        to
    }

    /// `by`, an admin of both, links `child` to the community `parent`.
    pub(super) fn link(
        &mut self,
        by: &str,
        parent: &str,
        child: &Jid,
    ) -> Result<Vec<Node>, Refusal> {
        let community = self.admin_group(by, parent)?;
        if !community.community {
            // guess: linking under a plain group is refused as a request the server
            // cannot follow.
            return Err((400, "bad-request"));
        }
        let group = self.admin_group(by, &child.user)?;
        if group.community {
            return Err((400, "bad-request"));
        }
        if group.parent.is_some() {
            return Err(CONFLICT);
        }
        if let Some(g) = self.groups.get_mut(&child.user) {
            g.parent = Some(parent.to_owned());
        }
        let change = GroupChange::Linked(self.sub_group(&child.user));
        let to = self.link_audience(parent, &child.user);
        self.notify_group(parent, by, vec![change], &to);
        Ok(Vec::new())
    }

    /// `by`, an admin of the community, unlinks `child` from it.
    pub(super) fn unlink(
        &mut self,
        by: &str,
        parent: &str,
        child: &Jid,
    ) -> Result<Vec<Node>, Refusal> {
        self.admin_group(by, parent)?;
        let linked = self
            .groups
            .get(&child.user)
            .is_some_and(|g| g.parent.as_deref() == Some(parent));
        if !linked {
            return Err(NOT_FOUND);
        }
        let to = self.link_audience(parent, &child.user);
        if let Some(g) = self.groups.get_mut(&child.user) {
            g.parent = None;
        }
        let change = GroupChange::Unlinked(self.sub_group(&child.user));
        self.notify_group(parent, by, vec![change], &to);
        Ok(Vec::new())
    }

    /// The community's groups.
    pub(super) fn sub_groups(&self, parent: &str) -> Result<Vec<Node>, Refusal> {
        if !self.groups.get(parent).is_some_and(|g| g.community) {
            // guess: asking a plain group for its sub-groups is a bad request.
            return Err((400, "bad-request"));
        }
        let groups: Vec<Node> = self
            .groups
            .iter()
            .filter(|(_, g)| g.parent.as_deref() == Some(parent))
            .map(|(gid, _)| self.sub_group(gid).to_node())
            .collect();
        Ok(vec![Node::new("sub_groups").children(groups)])
    }
}
