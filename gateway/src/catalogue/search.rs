//! Catalogue search: by text (diacritics and case folded, so `dan cu` finds
//! `Dân cư`), owner agency, data class and lifecycle state.

use crate::registry::model::{Service, ServiceState};
use lgsp_policies::DataClass;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

/// What a catalogue search asks for; every given criterion must hold.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Words that must all appear in the slug, name or description.
    pub q: Option<String>,
    /// Owner agency code.
    pub agency: Option<String>,
    /// `public`, `confidential` or `secret`.
    #[param(value_type = Option<String>)]
    pub data_class: Option<DataClass>,
    /// `draft`, `published`, `deprecated`, `retired` or `blocked`.
    #[param(value_type = Option<String>)]
    pub state: Option<ServiceState>,
}

/// Lower case without diacritics: `Đăng ký` → `dang ky`.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'đ' { 'd' } else { c })
        .collect()
}

impl CatalogueQuery {
    /// Whether `service` answers the query.
    pub fn matches(&self, service: &Service) -> bool {
        if self
            .agency
            .as_deref()
            .is_some_and(|agency| service.owner.as_str() != agency)
        {
            return false;
        }
        if self
            .data_class
            .is_some_and(|class| service.data_class != class)
        {
            return false;
        }
        if self.state.is_some_and(|state| service.state != state) {
            return false;
        }
        let Some(q) = self.q.as_deref() else {
            return true;
        };
        let haystack = fold(&format!(
            "{} {} {}",
            service.slug,
            service.name,
            service.metadata.description.as_deref().unwrap_or("")
        ));
        fold(q)
            .split_whitespace()
            .all(|word| haystack.contains(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(slug: &str, name: &str, state: &str) -> Service {
        toml::from_str(&format!(
            "slug='{slug}'\nversion='v1'\nname='{name}'\nowner='000.00.00.G01'\nstate='{state}'\ndata_class='confidential'\n[upstream]\nurl='http://127.0.0.1:1'\n"
        ))
        .expect("service")
    }

    #[test]
    fn text_matches_without_diacritics_or_case() {
        let s = service("population", "Tra cứu thông tin công dân", "published");
        let q = |text: &str| CatalogueQuery {
            q: Some(text.into()),
            ..Default::default()
        };
        assert!(q("cong dan").matches(&s));
        assert!(q("CÔNG DÂN tra").matches(&s));
        assert!(q("popul").matches(&s));
        assert!(!q("doanh nghiep").matches(&s));
        assert_eq!(fold("Đăng ký Hộ tịch"), "dang ky ho tich");
    }

    #[test]
    fn every_criterion_must_hold() {
        let s = service("population", "Dân cư", "deprecated");
        let mut q = CatalogueQuery {
            agency: Some("000.00.00.G01".into()),
            data_class: Some(DataClass::Confidential),
            state: Some(ServiceState::Deprecated),
            ..Default::default()
        };
        assert!(q.matches(&s));
        q.state = Some(ServiceState::Published);
        assert!(!q.matches(&s));
        q.state = None;
        q.agency = Some("000.00.00.H29".into());
        assert!(!q.matches(&s));
        q.agency = None;
        q.data_class = Some(DataClass::Public);
        assert!(!q.matches(&s));
    }
}
