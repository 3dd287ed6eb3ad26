//! Organizations and users.

use sqlx::FromRow;

use super::{Store, StoreError, StoreResult, classify, flag};
use crate::accounts::{Org, Role, User};

#[derive(FromRow)]
struct OrgRow {
    id: String,
    slug: String,
    name: String,
    created_at: i64,
}

impl From<OrgRow> for Org {
    fn from(r: OrgRow) -> Org {
        Org {
            id: r.id,
            slug: r.slug,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    org_id: String,
    email: String,
    display_name: String,
    role: String,
    disabled: i64,
    created_at: i64,
    external_id: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown role {:?}", r.role).into(),
            ))
        })?;
        Ok(User {
            id: r.id,
            org_id: r.org_id,
            email: r.email,
            display_name: r.display_name,
            role,
            disabled: flag(r.disabled),
            created_at: r.created_at,
            external_id: r.external_id,
        })
    }
}

/// `SELECT <user columns> FROM users <tail>` as one static string.
macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, email, display_name, role, disabled, created_at, external_id FROM users ",
            $tail
        )
    };
}

/// Fields of a new user; the password hash is already computed.
pub struct NewUser<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: Option<&'a str>,
    pub now: i64,
    pub external_id: Option<&'a str>,
}

impl Store {
    pub async fn create_org(&self, id: &str, slug: &str, name: &str, now: i64) -> StoreResult<Org> {
        let _changes = self.changes();
        sqlx::query("INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(slug)
            .bind(name)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(Org {
            id: id.into(),
            slug: slug.into(),
            name: name.into(),
            created_at: now,
        })
    }

    pub async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>> {
        Ok(sqlx::query_as::<_, OrgRow>(
            "SELECT id, slug, name, created_at FROM orgs WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(self.pool())
        .await?
        .map(Org::from))
    }

    pub async fn org_by_id(&self, id: &str) -> StoreResult<Option<Org>> {
        Ok(
            sqlx::query_as::<_, OrgRow>(
                "SELECT id, slug, name, created_at FROM orgs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .map(Org::from),
        )
    }

    pub async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        let rows = sqlx::query_as::<_, OrgRow>(
            "SELECT id, slug, name, created_at FROM orgs ORDER BY slug",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Org::from).collect())
    }

    pub async fn create_user(&self, u: NewUser<'_>) -> StoreResult<User> {
        let _changes = self.changes();
        sqlx::query(
            "INSERT INTO users (id, org_id, email, display_name, role, password_hash, disabled, created_at, updated_at, external_id) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $8)",
        )
        .bind(u.id)
        .bind(u.org_id)
        .bind(u.email)
        .bind(u.display_name)
        .bind(u.role.as_str())
        .bind(u.password_hash)
        .bind(u.now)
        .bind(u.external_id)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(User {
            id: u.id.to_owned(),
            org_id: u.org_id.to_owned(),
            email: u.email.to_owned(),
            display_name: u.display_name.to_owned(),
            role: u.role,
            disabled: false,
            created_at: u.now,
            external_id: u.external_id.map(str::to_owned),
        })
    }

    /// The user of `org_id` a platform knows as `external_id`.
    pub async fn user_by_external_id(
        &self,
        org_id: &str,
        external_id: &str,
    ) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>(select_users!("WHERE org_id = $1 AND external_id = $2"))
            .bind(org_id)
            .bind(external_id)
            .fetch_optional(self.pool())
            .await?
            .map(User::try_from)
            .transpose()
    }

    /// The user of `org_id` its SSO provider knows by `subject`.
    pub async fn user_by_sso_subject(
        &self,
        org_id: &str,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>(select_users!("WHERE org_id = $1 AND sso_subject = $2"))
            .bind(org_id)
            .bind(subject)
            .fetch_optional(self.pool())
            .await?
            .map(User::try_from)
            .transpose()
    }

    /// Ties a user to their SSO subject, only if they have none yet (false otherwise).
    pub async fn link_sso_subject(&self, user_id: &str, subject: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done =
            sqlx::query("UPDATE users SET sso_subject = $1 WHERE id = $2 AND sso_subject IS NULL")
                .bind(subject)
                .bind(user_id)
                .execute(self.pool())
                .await
                .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// A user of `org_id`; users of other orgs are `None`.
    pub async fn user_in_org(&self, org_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>(select_users!("WHERE org_id = $1 AND id = $2"))
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .map(User::try_from)
            .transpose()
    }

    /// A user by email with their password hash (for login only).
    pub async fn user_for_login(
        &self,
        org_id: &str,
        email: &str,
    ) -> StoreResult<Option<(User, Option<String>)>> {
        let Some(row) = sqlx::query(
            "SELECT id, org_id, email, display_name, role, disabled, created_at, external_id, password_hash \
             FROM users WHERE org_id = $1 AND email = $2",
        )
        .bind(org_id)
        .bind(email)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        use sqlx::Row;
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(Some((UserRow::from_row(&row)?.try_into()?, hash)))
    }

    pub async fn user_by_email(&self, org_id: &str, email: &str) -> StoreResult<Option<User>> {
        Ok(self.user_for_login(org_id, email).await?.map(|(u, _)| u))
    }

    pub async fn list_users(&self, org_id: &str) -> StoreResult<Vec<User>> {
        sqlx::query_as::<_, UserRow>(select_users!("WHERE org_id = $1 ORDER BY email"))
            .bind(org_id)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(User::try_from)
            .collect()
    }

    pub async fn count_admins(&self, org_id: &str) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE org_id = $1 AND role = 'admin' AND disabled = 0",
        )
        .bind(org_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Updates role, display name and disabled flag in one statement. Disabling also
    /// ends every session of the user, in the same transaction. False when there is no
    /// such user.
    pub async fn update_user(&self, user: &User, now: i64) -> StoreResult<bool> {
        let _changes = self.changes();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE users SET role = $1, display_name = $2, disabled = $3, updated_at = $4 \
             WHERE org_id = $5 AND id = $6",
        )
        .bind(user.role.as_str())
        .bind(&user.display_name)
        .bind(i64::from(user.disabled))
        .bind(now)
        .bind(&user.org_id)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if user.disabled {
            // A disabled user keeps no way in and no Databricks credentials.
            for sql in [
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM credentials WHERE user_id = $1",
            ] {
                sqlx::query(sql).bind(&user.id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a user; their sessions and API tokens go with them (foreign keys). False
    /// when there was none.
    pub async fn delete_user(&self, org_id: &str, user_id: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM users WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// A user and their org in one read (for authenticating sessions and tokens).
    pub async fn user_with_org(&self, user_id: &str) -> StoreResult<Option<(User, Org)>> {
        let Some(row) = sqlx::query(
            "SELECT u.id, u.org_id, u.email, u.display_name, u.role, u.disabled, u.created_at, \
                    u.external_id, o.slug, o.name, o.created_at AS org_created_at \
             FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        use sqlx::Row;
        let user: User = UserRow::from_row(&row)?.try_into()?;
        let org = Org {
            id: user.org_id.clone(),
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            created_at: row.try_get("org_created_at")?,
        };
        Ok(Some((user, org)))
    }
}
