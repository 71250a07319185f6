//! Message templates of the user of a [`UserTx`] (RLS-scoped like leads).

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
    /// The user's templates, by name.
    pub async fn templates_list(&mut self) -> Result<Vec<Template>, StoreError> {
        let sql =
            format!("SELECT {TEMPLATE_COLUMNS} FROM public.whatsapp_templates ORDER BY name, id");
        Ok(sqlx::query_as(&sql).fetch_all(&mut *self.tx).await?)
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
