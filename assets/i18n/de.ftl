# Deutsch. Jede Nachrichten-ID aus src/ui/i18n.rs muss hier definiert sein.
language-name = Deutsch
app-title = Registrierung der digitalen Identität
attract-greeting = Willkommen! Hier erhalten Sie Ihre digitale Identität.
attract-subtitle = Halten Sie Ihren Ausweis bereit. Es dauert etwa zwei Minuten.
attract-start = Starten
attract-choose-language = Sprache wählen
consent-title = Bevor wir beginnen
consent-body = Dieses Terminal liest Ihren Ausweis und fotografiert Ihr Gesicht, um zu prüfen, dass Sie der Inhaber sind. Ihr Foto und die Ausweisdaten werden auf diesem Terminal verschlüsselt und nur an das Identitätsregister gesendet. Nach Ihrem Weggehen bleibt nichts auf dem Bildschirm.
consent-accept = Ich stimme zu
consent-decline = Abbrechen
place-card-title = Legen Sie Ihren Ausweis auf das Lesegerät
place-card-body = Legen Sie Ihren Ausweis flach auf das Lesegerät und lassen Sie ihn dort, bis Sie aufgefordert werden, ihn zu entfernen.
place-card-cancel = Abbrechen
