//! Message templates of the user of a [`UserTx`] (RLS-scoped like leads).

use crate::conversations::{PAGE_MAX, PAGE_MIN};
use crate::domain::{multiline_text, optional_text, required_text};
use crate::records::{NewTemplate, Template};
use crate::{StoreError, UserTx};
use uuid::Uuid;

const TEMPLATE_COLUMNS: &str = "id, user_id, name, content, variables, category, created_at";
const CONTENT_MAX: usize = 4096;
const CATEGORY_MAX: usize = 50;
const VARIABLE_MAX: usize = 50;
const VARIABLES_MAX: usize = 50;

pub use templating::template_variables;

/// Templates per page when the caller does not say.
pub const TEMPLATES_PAGE_DEFAULT: i64 = 100;

/// One page of [`UserTx::templates_page`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TemplatePage {
    pub templates: Vec<Template>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a page of templates (ordered by name, then id) ends: hex of the 16 id bytes followed by
/// the name's UTF-8 bytes. Clients treat it as opaque.
struct NameCursor {
    name: String,
    id: Uuid,
}

impl NameCursor {
    fn encode(&self) -> String {
        self.id
            .as_bytes()
            .iter()
            .chain(self.name.as_bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn decode(input: &str) -> Result<NameCursor, StoreError> {
        let bad = || StoreError::invalid("after", "is not a cursor this API returned");
        // 16 id bytes plus a name of 1 to 200 characters (at most 4 bytes each).
        if !input.is_ascii()
            || !input.len().is_multiple_of(2)
            || input.len() < 34
            || input.len() > 1632
        {
            return Err(bad());
        }
        let bytes = (0..input.len() / 2)
            .map(|i| u8::from_str_radix(&input[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let (id, name) = bytes.split_at(16);
        Ok(NameCursor {
            id: Uuid::from_slice(id).map_err(|_| bad())?,
            name: String::from_utf8(name.to_vec()).map_err(|_| bad())?,
        })
    }
}

impl NewTemplate {
    fn validate(&self) -> Result<(String, String, Vec<String>, String), StoreError> {
        let name = required_text("name", &self.name, crate::leads::NAME_MAX)?;
        let content = multiline_text("content", &self.content, CONTENT_MAX)?;
        let variables = if self.variables.is_empty() {
            template_variables(&content)
        } else {
            self.variables
                .iter()
                .map(|v| required_text("variables", v, VARIABLE_MAX))
                .collect::<Result<_, _>>()?
        };
        if variables.len() > VARIABLES_MAX {
            return Err(StoreError::invalid(
                "variables",
                format!("at most {VARIABLES_MAX}"),
            ));
        }
        let category = optional_text("category", self.category.as_deref(), CATEGORY_MAX)?
            .unwrap_or_else(|| "general".to_owned());
        Ok((name, content, variables, category))
    }
}

impl UserTx {
    /// The first page of the user's templates, by name ([`TEMPLATES_PAGE_DEFAULT`] of them).
    pub async fn templates_list(&mut self) -> Result<Vec<Template>, StoreError> {
        Ok(self
            .templates_page(None, TEMPLATES_PAGE_DEFAULT)
            .await?
            .templates)
    }

    /// The user's templates by name, `limit` (clamped to 1..=200) at a time; `after` is the
    /// previous page's `next_cursor` (a malformed one is [`StoreError::Invalid`]).
    pub async fn templates_page(
        &mut self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<TemplatePage, StoreError> {
        let after = after.map(NameCursor::decode).transpose()?;
        let limit = limit.clamp(PAGE_MIN, PAGE_MAX);
        let sql = format!(
            "SELECT {TEMPLATE_COLUMNS} FROM public.whatsapp_templates \
             WHERE $2::text IS NULL OR (name, id) > ($2::text, $3::uuid) \
             ORDER BY name, id LIMIT $1"
        );
        let mut templates: Vec<Template> = sqlx::query_as(&sql)
            .bind(limit + 1)
            .bind(after.as_ref().map(|c| c.name.as_str()))
            .bind(after.as_ref().map(|c| c.id))
            .fetch_all(&mut *self.tx)
            .await?;
        let more = templates.len() as i64 > limit;
        templates.truncate(limit as usize);
        let next_cursor = if more {
            templates.last().map(|t| {
                NameCursor {
                    name: t.name.clone(),
                    id: t.id,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(TemplatePage {
            templates,
            next_cursor,
        })
    }

    pub async fn template_create(&mut self, new: NewTemplate) -> Result<Template, StoreError> {
        let (name, content, variables, category) = new.validate()?;
        let sql = format!(
            "INSERT INTO public.whatsapp_templates (user_id, name, content, variables, category) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {TEMPLATE_COLUMNS}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(self.user_id)
            .bind(name)
            .bind(content)
            .bind(sqlx::types::Json(variables))
            .bind(category)
            .fetch_one(&mut *self.tx)
            .await?)
    }

    /// Replaces a template's name, category and content (its variables are found again);
    /// [`StoreError::NotFound`] if it is not this user's.
    pub async fn template_update(
        &mut self,
        id: Uuid,
        new: NewTemplate,
    ) -> Result<Template, StoreError> {
        let (name, content, variables, category) = new.validate()?;
        let sql = format!(
            "UPDATE public.whatsapp_templates SET name = $2, content = $3, variables = $4, \
             category = $5 WHERE id = $1 RETURNING {TEMPLATE_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(id)
            .bind(name)
            .bind(content)
            .bind(sqlx::types::Json(variables))
            .bind(category)
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Deletes a template; [`StoreError::NotFound`] if it is not this user's.
    pub async fn template_delete(&mut self, id: Uuid) -> Result<(), StoreError> {
        let result = sqlx::query("DELETE FROM public.whatsapp_templates WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_cursors_round_trip_and_garbage_is_invalid() {
        let cursor = NameCursor {
            name: "Grüße — follow-up".into(),
            id: Uuid::new_v4(),
        };
        let back = NameCursor::decode(&cursor.encode()).unwrap();
        assert_eq!((back.name, back.id), (cursor.name, cursor.id));
        for bad in [
            "",
            "zz",
            &"0".repeat(33),
            &"g".repeat(40),
            &"0".repeat(2000),
        ] {
            assert!(NameCursor::decode(bad).is_err(), "{bad:?}");
        }
    }
}
