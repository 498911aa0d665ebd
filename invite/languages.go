package invite

// Language is one choice for Graph's invitedUserMessageInfo.messageLanguage.
type Language struct {
	Code string // the value sent to Graph, e.g. "fr-FR"
	Name string // shown in the form, in English followed by the language's own name
}

// DefaultLanguages are the message languages the form offers when the policy names none.
//
// Graph documents messageLanguage only as an ISO 639 language tag with the default en-US (its
// examples use language-region forms such as en-US and fr-FR) and publishes no closed list. The
// list below is the set of languages in which Microsoft Entra localises its external-user
// notifications (Entra External ID's "Supported languages" table), written as language-region tags.
// Graph ignores messageLanguage when customizedMessageBody is set; Portico still records it and
// uses it for the partner's join page.
var DefaultLanguages = []Language{
	{"ar-SA", "Arabic (العربية)"},
	{"eu-ES", "Basque (euskara)"},
	{"bg-BG", "Bulgarian (български)"},
	{"ca-ES", "Catalan (català)"},
	{"zh-CN", "Chinese, Simplified (中文简体)"},
	{"zh-TW", "Chinese, Traditional (中文繁體)"},
	{"hr-HR", "Croatian (hrvatski)"},
	{"cs-CZ", "Czech (čeština)"},
	{"da-DK", "Danish (dansk)"},
	{"nl-NL", "Dutch (Nederlands)"},
	{"en-US", "English (United States)"},
	{"en-GB", "English (United Kingdom)"},
	{"et-EE", "Estonian (eesti)"},
	{"fi-FI", "Finnish (suomi)"},
	{"fr-FR", "French (français)"},
	{"gl-ES", "Galician (galego)"},
	{"de-DE", "German (Deutsch)"},
	{"el-GR", "Greek (Ελληνικά)"},
	{"he-IL", "Hebrew (עברית)"},
	{"hi-IN", "Hindi (हिन्दी)"},
	{"hu-HU", "Hungarian (magyar)"},
	{"id-ID", "Indonesian (Bahasa Indonesia)"},
	{"it-IT", "Italian (italiano)"},
	{"ja-JP", "Japanese (日本語)"},
	{"kk-KZ", "Kazakh (қазақ тілі)"},
	{"ko-KR", "Korean (한국어)"},
	{"lv-LV", "Latvian (latviešu)"},
	{"lt-LT", "Lithuanian (lietuvių)"},
	{"ms-MY", "Malay (Bahasa Melayu)"},
	{"nb-NO", "Norwegian Bokmål (norsk bokmål)"},
	{"pl-PL", "Polish (polski)"},
	{"pt-BR", "Portuguese, Brazil (português)"},
	{"pt-PT", "Portuguese, Portugal (português)"},
	{"ro-RO", "Romanian (română)"},
	{"ru-RU", "Russian (русский)"},
	{"sr-Cyrl-RS", "Serbian, Cyrillic (српски)"},
	{"sr-Latn-RS", "Serbian, Latin (srpski)"},
	{"sk-SK", "Slovak (slovenčina)"},
	{"sl-SI", "Slovenian (slovenščina)"},
	{"es-ES", "Spanish (español)"},
	{"sv-SE", "Swedish (svenska)"},
	{"th-TH", "Thai (ไทย)"},
	{"tr-TR", "Turkish (Türkçe)"},
	{"uk-UA", "Ukrainian (українська)"},
	{"vi-VN", "Vietnamese (Tiếng Việt)"},
}
