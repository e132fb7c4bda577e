# Français. Chaque identifiant de message de src/ui/i18n.rs doit être défini ici.
language-name = Français
app-title = Inscription à l'identité numérique
attract-greeting = Bienvenue ! Obtenez ici votre identité numérique.
attract-subtitle = Préparez votre carte d'identité. Cela prend environ deux minutes.
attract-start = Commencer
attract-choose-language = Choisissez votre langue
consent-title = Avant de commencer
consent-body = Ce terminal lit votre carte d'identité et prend une photo de votre visage pour vérifier que vous en êtes le titulaire. Votre photo et les données de la carte sont chiffrées sur ce terminal et envoyées uniquement au registre d'identité. Rien ne reste à l'écran après votre départ.
consent-accept = J'accepte
consent-decline = Annuler
place-card-title = Posez votre carte sur le lecteur
place-card-body = Posez votre carte d'identité à plat sur le lecteur et laissez-la jusqu'à ce qu'on vous demande de la retirer.
place-card-cancel = Annuler
