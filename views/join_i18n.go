package views

// joinText holds the partner pages' sentences; English is the fallback for any other language.
type joinText struct {
	Invited, From, Next, Step1, Step2, Step3, Accept, Expires, Message string
	GoneTitle, GoneText                                                string
	// ForPrefix + the invited address + ForSuffix: which account to sign in with.
	ForPrefix, ForSuffix string
	// A partner who accepted already.
	AcceptedTitle, AcceptedText, OpenLanding string
	// A link that a newer invitation replaced, that expired or that the inviter withdrew; the
	// sentence ends with the inviter to contact.
	SupersededTitle, SupersededText, ExpiredTitle, RevokedTitle, ContactText string
}

var joinTexts = map[string]joinText{
	"en": {
		Invited: "You're invited", From: "invited you to work with", Next: "What happens next", Step1: "Select Accept invitation.",
		Step2: "Sign in with your own work or personal account, or get a one-time code by email if you have none.",
		Step3: "Review the permissions and you're in.", Accept: "Accept invitation", Expires: "This link works until", Message: "Their message",
		GoneTitle: "This link no longer works", GoneText: "Ask the person who invited you to send you a new link.",
		ForPrefix: "This invitation is for", ForSuffix: "sign in with that address.",
		AcceptedTitle: "You're already in", AcceptedText: "You have accepted this invitation already.", OpenLanding: "Open the landing page",
		SupersededTitle: "This invitation was replaced by a newer one", SupersededText: "Check your email for the newer invitation, or contact",
		ExpiredTitle: "This invitation link has expired", RevokedTitle: "This invitation link was withdrawn", ContactText: "For a new invitation, contact",
	},
	"fr": {
		Invited: "Vous êtes invité", From: "vous invite à collaborer avec", Next: "Et ensuite", Step1: "Sélectionnez Accepter l'invitation.",
		Step2: "Connectez-vous avec votre compte professionnel ou personnel, ou recevez un code à usage unique par e-mail.",
		Step3: "Vérifiez les autorisations, et c'est fait.", Accept: "Accepter l'invitation", Expires: "Ce lien est valable jusqu'au", Message: "Son message",
		GoneTitle: "Ce lien ne fonctionne plus", GoneText: "Demandez à la personne qui vous a invité de vous envoyer un nouveau lien.",
		ForPrefix: "Cette invitation est destinée à", ForSuffix: "connectez-vous avec cette adresse.",
		AcceptedTitle: "Vous avez déjà accès", AcceptedText: "Vous avez déjà accepté cette invitation.", OpenLanding: "Ouvrir la page d'accueil",
		SupersededTitle: "Cette invitation a été remplacée par une plus récente", SupersededText: "Consultez vos e-mails pour trouver la nouvelle invitation, ou contactez",
		ExpiredTitle: "Ce lien d'invitation a expiré", RevokedTitle: "Ce lien d'invitation a été retiré", ContactText: "Pour recevoir une nouvelle invitation, contactez",
	},
	"de": {
		Invited: "Sie sind eingeladen", From: "lädt Sie zur Zusammenarbeit ein mit", Next: "So geht es weiter", Step1: "Wählen Sie Einladung annehmen.",
		Step2: "Melden Sie sich mit Ihrem Geschäfts- oder Privatkonto an oder erhalten Sie einen Einmalcode per E-Mail.",
		Step3: "Prüfen Sie die Berechtigungen, fertig.", Accept: "Einladung annehmen", Expires: "Dieser Link gilt bis", Message: "Die Nachricht",
		GoneTitle: "Dieser Link funktioniert nicht mehr", GoneText: "Bitten Sie die Person, die Sie eingeladen hat, um einen neuen Link.",
		ForPrefix: "Diese Einladung gilt für", ForSuffix: "melden Sie sich mit dieser Adresse an.",
		AcceptedTitle: "Sie sind bereits dabei", AcceptedText: "Sie haben diese Einladung bereits angenommen.", OpenLanding: "Startseite öffnen",
		SupersededTitle: "Diese Einladung wurde durch eine neuere ersetzt", SupersededText: "Suchen Sie in Ihren E-Mails nach der neueren Einladung oder wenden Sie sich an",
		ExpiredTitle: "Dieser Einladungslink ist abgelaufen", RevokedTitle: "Dieser Einladungslink wurde zurückgezogen", ContactText: "Für eine neue Einladung wenden Sie sich an",
	},
	"es": {
		Invited: "Tiene una invitación", From: "le invita a colaborar con", Next: "Qué pasa ahora", Step1: "Seleccione Aceptar invitación.",
		Step2: "Inicie sesión con su cuenta profesional o personal, o reciba un código de un solo uso por correo.",
		Step3: "Revise los permisos y listo.", Accept: "Aceptar invitación", Expires: "Este enlace funciona hasta", Message: "Su mensaje",
		GoneTitle: "Este enlace ya no funciona", GoneText: "Pida a la persona que le invitó un enlace nuevo.",
		ForPrefix: "Esta invitación es para", ForSuffix: "inicie sesión con esa dirección.",
		AcceptedTitle: "Ya tiene acceso", AcceptedText: "Ya aceptó esta invitación.", OpenLanding: "Abrir la página de inicio",
		SupersededTitle: "Esta invitación se sustituyó por una más reciente", SupersededText: "Busque la invitación más reciente en su correo o contacte con",
		ExpiredTitle: "Este enlace de invitación ha caducado", RevokedTitle: "Este enlace de invitación se ha retirado", ContactText: "Para recibir una nueva invitación, contacte con",
	},
	"nl": {
		Invited: "Je bent uitgenodigd", From: "nodigt je uit om samen te werken met", Next: "Wat er nu gebeurt", Step1: "Kies Uitnodiging accepteren.",
		Step2: "Meld je aan met je eigen werk- of persoonlijke account, of ontvang een eenmalige code per e-mail.",
		Step3: "Controleer de machtigingen en klaar.", Accept: "Uitnodiging accepteren", Expires: "Deze link werkt tot", Message: "Het bericht",
		GoneTitle: "Deze link werkt niet meer", GoneText: "Vraag degene die je heeft uitgenodigd om een nieuwe link.",
		ForPrefix: "Deze uitnodiging is voor", ForSuffix: "meld je aan met dat adres.",
		AcceptedTitle: "Je doet al mee", AcceptedText: "Je hebt deze uitnodiging al geaccepteerd.", OpenLanding: "Open de startpagina",
		SupersededTitle: "Deze uitnodiging is vervangen door een nieuwere", SupersededText: "Kijk in je e-mail voor de nieuwere uitnodiging, of neem contact op met",
		ExpiredTitle: "Deze uitnodigingslink is verlopen", RevokedTitle: "Deze uitnodigingslink is ingetrokken", ContactText: "Voor een nieuwe uitnodiging neem je contact op met",
	},
}

func tr(lang string) joinText {
	if t, ok := joinTexts[lang]; ok {
		return t
	}
	return joinTexts["en"]
}

// JoinTitle is the heading (and page title) of the join page in state, in lang.
func JoinTitle(lang, state string) string {
	t := tr(lang)
	switch state {
	case "accepted":
		return t.AcceptedTitle
	case "superseded":
		return t.SupersededTitle
	case "expired":
		return t.ExpiredTitle
	case "revoked":
		return t.RevokedTitle
	}
	return t.Invited
}
