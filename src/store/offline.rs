//! Reads for offline play: a user's stored A/B assignments.

use diesel::prelude::*;

use super::runs::AssignmentRow;
use super::schema::assignments;
use super::{AnyConnection, StoreError};

/// Every A/B assignment of a user, in a stable order.
pub fn assignments_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(assignments::table
        .filter(assignments::user_id.eq(user_id))
        .order((assignments::step_key, assignments::condition_name))
        .select(AssignmentRow::as_select())
        .load(conn)?)
}
