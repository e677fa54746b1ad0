//! The profile's optional rows: other endpoints, Resource Manager's coordinates and the
//! checkpoint store. Left empty, the profile has none of them.

use super::{field_errors, text_row};
use crate::checkpoints::Layout;
use crate::profiles::{CheckpointStoreSettings, FieldError, Profile, ResourceManagerSettings};

/// The custom endpoint, the management endpoint and the checkpoint store: left empty, the
/// profile has none of them.
pub(super) fn optional_rows(
    ui: &mut egui::Ui,
    draft: &mut Profile,
    reveal: &mut bool,
    errors: &[FieldError],
) {
    let mut endpoint = draft.custom_endpoint.clone().unwrap_or_default();
    text_row(
        ui,
        "Custom endpoint",
        &mut endpoint,
        errors,
        "custom_endpoint",
        Some("optional, e.g. amqp://10.0.0.5:5672"),
    );
    draft.custom_endpoint = Some(endpoint).filter(|e| !e.trim().is_empty());
    let mut management = draft.management_endpoint.clone().unwrap_or_default();
    text_row(
        ui,
        "Management endpoint",
        &mut management,
        errors,
        "management_endpoint",
        Some("optional: where the namespace tree is read, e.g. http://10.0.0.5:5300"),
    );
    draft.management_endpoint = Some(management).filter(|e| !e.trim().is_empty());
    resource_manager_rows(ui, &mut draft.resource_manager, errors);
    checkpoint_rows(ui, &mut draft.checkpoint_store, reveal, errors);
}

/// Where the namespace is in Resource Manager: the resource group and endpoint rows appear once
/// a subscription is typed.
fn resource_manager_rows(
    ui: &mut egui::Ui,
    settings: &mut Option<ResourceManagerSettings>,
    errors: &[FieldError],
) {
    let mut draft = settings.clone().unwrap_or_default();
    text_row(
        ui,
        "Azure subscription",
        &mut draft.subscription_id,
        errors,
        "arm_subscription",
        Some("optional: to manage hubs through Resource Manager"),
    );
    if draft.subscription_id.trim().is_empty() && draft.resource_group.trim().is_empty() {
        *settings = None;
        return;
    }
    text_row(
        ui,
        "Resource group",
        &mut draft.resource_group,
        errors,
        "arm_resource_group",
        Some("the namespace's resource group"),
    );
    let mut endpoint = draft.endpoint.clone().unwrap_or_default();
    text_row(
        ui,
        "Resource Manager",
        &mut endpoint,
        errors,
        "arm_endpoint",
        Some("optional: https://management.azure.com unless another cloud's"),
    );
    draft.endpoint = Some(endpoint).filter(|e| !e.trim().is_empty());
    *settings = draft.given();
}

/// The optional checkpoint store: left empty, the profile has none.
fn checkpoint_rows(
    ui: &mut egui::Ui,
    settings: &mut Option<CheckpointStoreSettings>,
    reveal: &mut bool,
    errors: &[FieldError],
) {
    let mut draft = settings.clone().unwrap_or_default();
    let label = ui.label("Checkpoint store");
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(draft.store.expose_mut())
                    .password(!*reveal)
                    .hint_text("optional: UseDevelopmentStorage=true, a storage connection string, or https://<account>.blob.core.windows.net")
                    .desired_width(420.0),
            )
            .labelled_by(label.id);
        });
        field_errors(ui, errors, "checkpoint_store");
    });
    ui.end_row();
    if draft.store.expose().trim().is_empty() && draft.container.trim().is_empty() {
        *settings = None;
        return;
    }
    text_row(
        ui,
        "Checkpoint container",
        &mut draft.container,
        errors,
        "checkpoint_container",
        Some("Azure Functions: azure-webjobs-eventhub"),
    );
    text_row(
        ui,
        "Checkpoint namespace",
        &mut draft.namespace,
        errors,
        "checkpoint_namespace",
        Some("optional: the namespace as the store names it, when not this profile's"),
    );
    text_row(
        ui,
        "Hub retention",
        &mut draft.retention,
        errors,
        "checkpoint_retention",
        Some("optional, for expiry warnings: 1h, 7d (the embedded endpoint's is known)"),
    );
    let mut groups = draft.groups.join(", ");
    text_row(
        ui,
        "More consumer groups",
        &mut groups,
        errors,
        "checkpoint_groups",
        Some("optional, comma-separated: shown even before they checkpoint"),
    );
    draft.groups = groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    let label = ui.label("Checkpoint layout");
    egui::ComboBox::from_id_salt("checkpoint_layout")
        .selected_text(layout_name(draft.layout))
        .show_ui(ui, |ui| {
            for layout in [Layout::Auto, Layout::Processor, Layout::Functions] {
                ui.selectable_value(&mut draft.layout, layout, layout_name(layout));
            }
        })
        .response
        .labelled_by(label.id);
    ui.end_row();
    *settings = Some(draft);
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Auto => "Automatic",
        Layout::Processor => "Event processor (SDK Blob checkpoint store)",
        Layout::Functions => "Azure Functions (JSON per partition)",
    }
}
