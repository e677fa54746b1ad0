//! Keyboard shortcuts, read once per frame before the panels draw, and the help overlay that
//! lists them (F1, or the status bar's "Shortcuts").

/// What the keyboard asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Ctrl+1…5: the tab to show (0-based).
    Tab(usize),
    /// Ctrl+Enter: send what the composer holds.
    Send,
    /// Ctrl+F: focus the live view's filter.
    Find,
    /// Space, outside a text field: pause or resume the live view.
    Pause,
    /// Esc: close the open dialog (the editor, the notification history, this overlay).
    Close,
    /// F1: show or hide the list of shortcuts.
    Help,
}

/// Every shortcut, for the overlay and the README.
pub const LIST: [(&str, &str); 6] = [
    (
        "Ctrl+1 … Ctrl+5",
        "Inspector, Composer, Live, Load, Consumer groups",
    ),
    ("Ctrl+Enter", "send what the composer holds"),
    ("Ctrl+F", "focus the live view's jq filter"),
    (
        "Space",
        "pause or resume the live view (outside a text field)",
    ),
    (
        "Esc",
        "close the profile editor, the notifications or this list",
    ),
    ("F1", "show or hide this list"),
];

/// Reads this frame's shortcuts; a key that a text field is typing into is not a shortcut.
#[must_use]
pub fn read(ctx: &egui::Context) -> Vec<Shortcut> {
    let typing = ctx.egui_wants_keyboard_input();
    let command = egui::Modifiers::COMMAND;
    let none = egui::Modifiers::NONE;
    ctx.input_mut(|input| {
        let mut pressed = Vec::new();
        let tabs = [
            egui::Key::Num1,
            egui::Key::Num2,
            egui::Key::Num3,
            egui::Key::Num4,
            egui::Key::Num5,
        ];
        for (i, key) in tabs.into_iter().enumerate() {
            if input.consume_key(command, key) {
                pressed.push(Shortcut::Tab(i));
            }
        }
        for (modifiers, key, shortcut) in [
            (command, egui::Key::Enter, Shortcut::Send),
            (command, egui::Key::F, Shortcut::Find),
            (none, egui::Key::Escape, Shortcut::Close),
            (none, egui::Key::F1, Shortcut::Help),
        ] {
            if input.consume_key(modifiers, key) {
                pressed.push(shortcut);
            }
        }
        if !typing && input.consume_key(none, egui::Key::Space) {
            pressed.push(Shortcut::Pause);
        }
        pressed
    })
}

/// The overlay listing the shortcuts, while `open`.
pub fn help_ui(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .collapsible(false)
        .resizable(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts_grid")
                .spacing([16.0, 4.0])
                .show(ui, |ui| {
                    for (keys, what) in LIST {
                        ui.strong(keys);
                        ui.label(what);
                        ui.end_row();
                    }
                });
        });
}
