//! CSV import of leads: a preview (columns, a suggested mapping, a few rows), then the import
//! itself in **one transaction** — every good row is written, every bad row is reported with its
//! line and reason, and a failure of the database (a quota, a concurrent import of the same
//! number) rolls the whole file back, so nothing is ever half-imported.
//!
//! - Phone numbers are normalised to E.164 with libphonenumber's rules (`phonenumber` crate): a
//!   number with `+` or `00` keeps its country code, a national one (`020 7946 0958`) takes the
//!   default country.
//! - One lead per phone number: rows repeating a number are merged (later non-empty values win),
//!   and a number the user already has updates that lead instead of creating another. Empty cells
//!   never erase what a lead already has.
//! - Columns mapped to neither a lead field nor "ignore" become template variables in
//!   `leads.fields`, named after their header (`First order` → `first_order`).
//! - Rows are written in chunks of [`CHUNK`] through `unnest` arrays: two statements per chunk
//!   whatever its size.

use crate::domain::{LeadStatus, PhoneE164, normalize_email};
use crate::leads::NAME_MAX;
use crate::{StoreError, UserTx};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The most rows one import takes (the per-user lead quota applies as well).
pub const IMPORT_ROWS_MAX: usize = 100_000;
/// Rows shown in a preview.
pub const PREVIEW_ROWS: usize = 5;
const CHUNK: usize = 5_000;
const COMPANY_MAX: usize = 200;
const FIELD_VALUE_MAX: usize = 1_000;
const FIELD_NAME_MAX: usize = 64;
/// Extra fields of one lead, as JSON text (the column allows 8 KiB stored).
const FIELDS_JSON_MAX: usize = 7_000;
const COLUMNS_MAX: usize = 100;
/// `leads.source` of imported leads.
const IMPORT_SOURCE: &str = "import";

/// Where one CSV column goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "to", content = "field")]
pub enum ColumnTarget {
    Ignore,
    Name,
    Phone,
    Company,
    Email,
    Status,
    /// An extra field (a template variable) of this name.
    Field(String),
}

/// What the user chose for an import.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ImportOptions {
    /// One target per column, in the file's order; missing ones use the suggestion.
    pub mapping: Vec<ColumnTarget>,
    /// ISO 3166 two-letter code (`GB`) for numbers written without their country code.
    pub default_country: Option<String>,
}

/// The first look at a file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportPreview {
    pub columns: Vec<String>,
    pub suggested: Vec<ColumnTarget>,
    /// The first rows (up to five), cell by cell.
    pub sample: Vec<Vec<String>>,
    /// Data rows in the file (the header excluded).
    pub rows: usize,
}

/// A row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    /// Rows merged into an earlier row with the same number.
    pub merged: usize,
    pub errors: Vec<RowError>,
}

/// One lead as the file gives it (empty cells are `None`).
#[derive(Clone, Debug, Default)]
struct Row {
    name: Option<String>,
    phone: String,
    company: Option<String>,
    email: Option<String>,
    status: Option<LeadStatus>,
    fields: BTreeMap<String, String>,
}

impl Row {
    fn merge(&mut self, later: Row) {
        fn take(into: &mut Option<String>, from: Option<String>) {
            if from.is_some() {
                *into = from;
            }
        }
        take(&mut self.name, later.name);
        take(&mut self.company, later.company);
        take(&mut self.email, later.email);
        if later.status.is_some() {
            self.status = later.status;
        }
        self.fields.extend(later.fields);
    }
}

/// A template-variable name for a header: lower case, runs of other characters as `_`.
pub fn field_name(header: &str) -> String {
    let mut out = String::new();
    for c in header.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out.truncate(FIELD_NAME_MAX);
    out
}

/// The mapping a header suggests.
fn suggest(header: &str) -> ColumnTarget {
    let name = field_name(header);
    match name.as_str() {
        "name" | "full_name" | "fullname" | "contact" | "contact_name" | "lead" | "lead_name" => {
            ColumnTarget::Name
        }
        "phone" | "phone_number" | "mobile" | "mobile_number" | "cell" | "whatsapp" | "number"
        | "tel" | "telephone" | "whatsapp_number" => ColumnTarget::Phone,
        "company" | "company_name" | "organisation" | "organization" | "business" | "account" => {
            ColumnTarget::Company
        }
        "email" | "e_mail" | "email_address" | "mail" => ColumnTarget::Email,
        "status" | "stage" | "lead_status" => ColumnTarget::Status,
        "" => ColumnTarget::Ignore,
        _ => ColumnTarget::Field(name),
    }
}

fn reader(data: &[u8]) -> csv::Reader<&[u8]> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data)
}

fn headers(reader: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, StoreError> {
    let headers = reader.headers().map_err(|_| {
        StoreError::invalid("file", "the first line must be the column names (UTF-8)")
    })?;
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(StoreError::invalid("file", "is empty: no column names"));
    }
    if headers.len() > COLUMNS_MAX {
        return Err(StoreError::invalid("file", "has more than 100 columns"));
    }
    Ok(headers.iter().map(str::to_owned).collect())
}

/// The columns, a suggested mapping and the first rows of a CSV file.
pub fn preview(data: &[u8]) -> Result<ImportPreview, StoreError> {
    let mut reader = reader(data);
    let columns = headers(&mut reader)?;
    let suggested = columns.iter().map(|h| suggest(h)).collect();
    let mut sample = Vec::new();
    let mut rows = 0;
    for record in reader.records() {
        rows += 1;
        if sample.len() < PREVIEW_ROWS
            && let Ok(record) = record
        {
            sample.push(record.iter().map(str::to_owned).collect());
        }
    }
    Ok(ImportPreview {
        columns,
        suggested,
        sample,
        rows,
    })
}

/// A phone number from a cell, in E.164.
pub fn normalize_phone(
    input: &str,
    default_country: Option<phonenumber::country::Id>,
) -> Result<PhoneE164, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err("no phone number".to_owned());
    }
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    if !international && default_country.is_none() {
        return Err(format!(
            "phone number {trimmed:?} has no country code and no default country was chosen"
        ));
    }
    // `00` is the international call prefix almost everywhere (ITU E.164's recommendation).
    let input = match trimmed.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => trimmed.to_owned(),
    };
    let parsed = phonenumber::parse(if international { None } else { default_country }, &input)
        .map_err(|_| format!("{trimmed:?} is not a phone number"))?;
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    PhoneE164::parse(&e164).map_err(|_| format!("{trimmed:?} is not a phone number"))
}

fn country(code: Option<&str>) -> Result<Option<phonenumber::country::Id>, StoreError> {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(code) => code
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .map(Some)
            .map_err(|_| {
                StoreError::invalid(
                    "default_country",
                    "must be a two-letter country code such as GB or US",
                )
            }),
    }
}

/// Reads every row of `data` under `options`: the rows by phone number (merged) and the errors.
fn read_rows(data: &[u8], options: &ImportOptions) -> Result<(Vec<Row>, ImportReport), StoreError> {
    let default_country = country(options.default_country.as_deref())?;
    let mut reader = reader(data);
    let columns = headers(&mut reader)?;
    if options.mapping.len() > columns.len() {
        return Err(StoreError::invalid(
            "mapping",
            "has more entries than the file has columns",
        ));
    }
    let mapping: Vec<ColumnTarget> = columns
        .iter()
        .enumerate()
        .map(|(i, h)| {
            options
                .mapping
                .get(i)
                .cloned()
                .unwrap_or_else(|| suggest(h))
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for target in &mapping {
        let key = match target {
            ColumnTarget::Ignore => continue,
            ColumnTarget::Field(name) => {
                let clean = field_name(name);
                if clean.is_empty() || clean != *name {
                    return Err(StoreError::invalid(
                        "mapping",
                        "field names are lower-case letters, digits and _",
                    ));
                }
                format!("field:{name}")
            }
            other => format!("{other:?}"),
        };
        if !seen.insert(key) {
            return Err(StoreError::invalid(
                "mapping",
                "maps two columns to the same field",
            ));
        }
    }
    if !mapping.contains(&ColumnTarget::Phone) {
        return Err(StoreError::invalid(
            "mapping",
            "no column is the phone number",
        ));
    }

    let mut report = ImportReport::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut by_phone: HashMap<String, usize> = HashMap::new();
    for record in reader.records() {
        report.rows += 1;
        if report.rows > IMPORT_ROWS_MAX {
            return Err(StoreError::invalid(
                "file",
                "has more than 100,000 rows; split it",
            ));
        }
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let line = err.position().map_or(0, csv::Position::line);
                report.errors.push(RowError {
                    line,
                    reason: match err.kind() {
                        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8 text".to_owned(),
                        _ => "cannot be read as CSV".to_owned(),
                    },
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(str::is_empty) {
            report.rows -= 1; // a blank line is not a row
            continue;
        }
        if record.len() > columns.len() {
            report.errors.push(RowError {
                line,
                reason: format!(
                    "has {} cells but the header has {} columns",
                    record.len(),
                    columns.len()
                ),
            });
            continue;
        }
        match row(&record, &mapping, default_country) {
            Ok(row) => match by_phone.get(row.phone.as_str()) {
                Some(&i) => {
                    rows[i].merge(row);
                    report.merged += 1;
                }
                None => {
                    by_phone.insert(row.phone.clone(), rows.len());
                    rows.push(row);
                }
            },
            Err(reason) => report.errors.push(RowError { line, reason }),
        }
    }
    Ok((rows, report))
}

fn row(
    record: &csv::StringRecord,
    mapping: &[ColumnTarget],
    default_country: Option<phonenumber::country::Id>,
) -> Result<Row, String> {
    let mut out = Row::default();
    let mut phone = None;
    for (cell, target) in record.iter().zip(mapping) {
        if cell.is_empty() {
            continue;
        }
        let too_long = |what: &str, max: usize| format!("{what} is longer than {max} characters");
        match target {
            ColumnTarget::Ignore => {}
            ColumnTarget::Name => {
                if cell.chars().count() > NAME_MAX {
                    return Err(too_long("name", NAME_MAX));
                }
                out.name = Some(cell.to_owned());
            }
            ColumnTarget::Phone => phone = Some(normalize_phone(cell, default_country)?),
            ColumnTarget::Company => {
                if cell.chars().count() > COMPANY_MAX {
                    return Err(too_long("company", COMPANY_MAX));
                }
                out.company = Some(cell.to_owned());
            }
            ColumnTarget::Email => {
                out.email = Some(
                    normalize_email(cell)
                        .map_err(|_| format!("{cell:?} is not an email address"))?,
                )
            }
            ColumnTarget::Status => {
                out.status = Some(LeadStatus::parse(cell).map_err(|_| {
                    format!("status {cell:?} is not one of new, contacted, qualified, won, lost")
                })?)
            }
            ColumnTarget::Field(name) => {
                if cell.chars().count() > FIELD_VALUE_MAX {
                    return Err(too_long(name, FIELD_VALUE_MAX));
                }
                out.fields.insert(name.clone(), cell.to_owned());
            }
        }
    }
    let Some(phone) = phone else {
        return Err("no phone number".to_owned());
    };
    out.phone = phone.as_str().to_owned();
    if serde_json::to_string(&out.fields).map_or(usize::MAX, |s| s.len()) > FIELDS_JSON_MAX {
        return Err("its extra columns hold more than 7,000 characters".to_owned());
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    phone: String,
    /// NULL only on a host's adopted `leads`; kept NULL unless the file names the lead.
    name: Option<String>,
    company: Option<String>,
    email: Option<String>,
    /// NULL only on a host's adopted `leads` (a status of its own is kept as it is).
    status: Option<String>,
    fields: sqlx::types::Json<BTreeMap<String, String>>,
}

impl UserTx {
    /// Imports `data` (a CSV file) as the user's leads (see the module docs). Bad rows are in the
    /// report; a refusal of the whole file (no phone column, a bad mapping, too many rows, the lead
    /// quota) is an error and writes nothing.
    pub async fn leads_import(
        &mut self,
        data: &[u8],
        options: &ImportOptions,
    ) -> Result<ImportReport, StoreError> {
        let (rows, mut report) = read_rows(data, options)?;
        for chunk in rows.chunks(CHUNK) {
            let (created, updated) = self.import_chunk(chunk).await?;
            report.created += created;
            report.updated += updated;
        }
        Ok(report)
    }

    async fn import_chunk(&mut self, chunk: &[Row]) -> Result<(usize, usize), StoreError> {
        let phones: Vec<&str> = chunk.iter().map(|r| r.phone.as_str()).collect();
        let existing: Vec<Existing> = sqlx::query_as(
            "SELECT id, phone, name, company, email, status, fields FROM public.leads \
             WHERE phone = ANY($1) FOR UPDATE",
        )
        .bind(&phones)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut existing: HashMap<String, Existing> =
            existing.into_iter().map(|e| (e.phone.clone(), e)).collect();

        #[derive(Default)]
        struct Columns {
            id: Vec<Uuid>,
            name: Vec<Option<String>>,
            phone: Vec<String>,
            company: Vec<Option<String>>,
            email: Vec<Option<String>>,
            status: Vec<Option<String>>,
            fields: Vec<sqlx::types::Json<BTreeMap<String, String>>>,
        }
        let (mut new, mut changed) = (Columns::default(), Columns::default());
        for row in chunk {
            match existing.remove(&row.phone) {
                Some(mut lead) => {
                    let mut fields = lead.fields.0.clone();
                    fields.extend(row.fields.clone());
                    let status = row
                        .status
                        .map_or(lead.status.clone(), |s| Some(s.as_str().to_owned()));
                    let name = row.name.clone().or_else(|| lead.name.clone());
                    let company = row.company.clone().or(lead.company.take());
                    let email = row.email.clone().or(lead.email.take());
                    if name == lead.name
                        && company == lead.company
                        && email == lead.email
                        && status == lead.status
                        && fields == lead.fields.0
                    {
                        continue;
                    }
                    changed.id.push(lead.id);
                    changed.name.push(name);
                    changed.company.push(company);
                    changed.email.push(email);
                    changed.status.push(status);
                    changed.fields.push(sqlx::types::Json(fields));
                }
                None => {
                    new.name
                        .push(Some(row.name.clone().unwrap_or_else(|| row.phone.clone())));
                    new.phone.push(row.phone.clone());
                    new.company.push(row.company.clone());
                    new.email.push(row.email.clone());
                    new.status
                        .push(Some(row.status.unwrap_or_default().as_str().to_owned()));
                    new.fields.push(sqlx::types::Json(row.fields.clone()));
                }
            }
        }
        if !changed.id.is_empty() {
            sqlx::query(
                "UPDATE public.leads l SET name = u.name, company = u.company, email = u.email, \
                   status = u.status, fields = u.fields \
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) \
                   AS u(id, name, company, email, status, fields) \
                 WHERE l.id = u.id",
            )
            .bind(&changed.id)
            .bind(&changed.name)
            .bind(&changed.company)
            .bind(&changed.email)
            .bind(&changed.status)
            .bind(&changed.fields)
            .execute(&mut *self.tx)
            .await?;
        }
        if !new.phone.is_empty() {
            sqlx::query(
                "INSERT INTO public.leads (user_id, name, phone, company, email, status, fields, source) \
                 SELECT $1, u.name, u.phone, u.company, u.email, u.status, u.fields, $8 \
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[]) \
                   AS u(name, phone, company, email, status, fields)",
            )
            .bind(self.user_id)
            .bind(&new.name)
            .bind(&new.phone)
            .bind(&new.company)
            .bind(&new.email)
            .bind(&new.status)
            .bind(&new.fields)
            .bind(IMPORT_SOURCE)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok((new.phone.len(), changed.id.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    #[test]
    fn numbers_are_normalised_with_the_default_country() {
        let e164 = |s, c| normalize_phone(s, c).map(|p| p.as_str().to_owned());
        assert_eq!(
            e164("020 7946 0958", Some(Id::GB)).unwrap(),
            "+442079460958"
        );
        assert_eq!(e164("+44 (0)20 7946 0958", None).unwrap(), "+442079460958");
        assert_eq!(
            e164("0044 20 7946 0958", Some(Id::US)).unwrap(),
            "+442079460958"
        );
        assert_eq!(
            e164("(415) 555-0100", Some(Id::US)).unwrap(),
            "+14155550100"
        );
        assert!(
            e164("020 7946 0958", None)
                .unwrap_err()
                .contains("no country code")
        );
        assert!(e164("not a number", Some(Id::GB)).is_err());
        assert!(e164("12", Some(Id::GB)).is_err());
        assert!(e164("", Some(Id::GB)).is_err());
    }

    #[test]
    fn headers_suggest_a_mapping() {
        let p = preview("\u{feff}Full Name,Mobile,Company,E-mail,Stage,First order\n".as_bytes())
            .unwrap();
        assert_eq!(
            p.suggested,
            vec![
                ColumnTarget::Name,
                ColumnTarget::Phone,
                ColumnTarget::Company,
                ColumnTarget::Email,
                ColumnTarget::Status,
                ColumnTarget::Field("first_order".into()),
            ]
        );
        assert_eq!(p.rows, 0);
        assert!(preview(b"").is_err());
    }

    #[test]
    fn rows_are_merged_by_number_and_bad_ones_reported_by_line() {
        let csv = "name,phone,company,city\n\
                   Ann,+44 20 7946 0958,\"Acme, Inc\",Leeds\n\
                   Bob,12,,\n\
                   \"Ann B\",020 7946 0958,,York\n\
                   Cy,+1 415 555 0100,x,y,z\n";
        let options = ImportOptions {
            default_country: Some("gb".into()),
            ..ImportOptions::default()
        };
        let (rows, report) = read_rows(csv.as_bytes(), &options).unwrap();
        assert_eq!(report.rows, 4);
        assert_eq!(report.merged, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name.as_deref(), Some("Ann B"));
        assert_eq!(rows[0].company.as_deref(), Some("Acme, Inc"));
        assert_eq!(rows[0].fields.get("city").map(String::as_str), Some("York"));
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5], "{:?}", report.errors);
    }
}
