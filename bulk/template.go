package bulk

// PorticoTemplate is the CSV offered for download on /bulk: the header row of every column
// Portico reads. Empty cells take the defaults chosen on the page.
func PorticoTemplate() []byte {
	return []byte("email,display name,message,cc,landing page,language,user type,send (email or link)\n")
}
