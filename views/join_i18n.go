package views

// joinText holds the partner page's sentences; English is the fallback for any other language.
type joinText struct {
	Invited, From, Next, Step1, Step2, Step3, Accept, Expires, Message string
	GoneTitle, GoneText                                                string
}

var joinTexts = map[string]joinText{
	"en": {"You're invited", "invited you to work with", "What happens next", "Select Accept invitation.",
		"Sign in with your own work or personal account, or get a one-time code by email if you have none.",
		"Review the permissions and you're in.", "Accept invitation", "This link works until", "Their message",
		"This link no longer works", "Ask the person who invited you to send you a new link."},
	"fr": {"Vous êtes invité", "vous invite à collaborer avec", "Et ensuite", "Sélectionnez Accepter l'invitation.",
		"Connectez-vous avec votre compte professionnel ou personnel, ou recevez un code à usage unique par e-mail.",
		"Vérifiez les autorisations, et c'est fait.", "Accepter l'invitation", "Ce lien est valable jusqu'au", "Son message",
		"Ce lien ne fonctionne plus", "Demandez à la personne qui vous a invité de vous envoyer un nouveau lien."},
	"de": {"Sie sind eingeladen", "lädt Sie zur Zusammenarbeit ein mit", "So geht es weiter", "Wählen Sie Einladung annehmen.",
		"Melden Sie sich mit Ihrem Geschäfts- oder Privatkonto an oder erhalten Sie einen Einmalcode per E-Mail.",
		"Prüfen Sie die Berechtigungen, fertig.", "Einladung annehmen", "Dieser Link gilt bis", "Die Nachricht",
		"Dieser Link funktioniert nicht mehr", "Bitten Sie die Person, die Sie eingeladen hat, um einen neuen Link."},
	"es": {"Tiene una invitación", "le invita a colaborar con", "Qué pasa ahora", "Seleccione Aceptar invitación.",
		"Inicie sesión con su cuenta profesional o personal, o reciba un código de un solo uso por correo.",
		"Revise los permisos y listo.", "Aceptar invitación", "Este enlace funciona hasta", "Su mensaje",
		"Este enlace ya no funciona", "Pida a la persona que le invitó un enlace nuevo."},
	"nl": {"Je bent uitgenodigd", "nodigt je uit om samen te werken met", "Wat er nu gebeurt", "Kies Uitnodiging accepteren.",
		"Meld je aan met je eigen werk- of persoonlijke account, of ontvang een eenmalige code per e-mail.",
		"Controleer de machtigingen en klaar.", "Uitnodiging accepteren", "Deze link werkt tot", "Het bericht",
		"Deze link werkt niet meer", "Vraag degene die je heeft uitgenodigd om een nieuwe link."},
}

func tr(lang string) joinText {
	if t, ok := joinTexts[lang]; ok {
		return t
	}
	return joinTexts["en"]
}
