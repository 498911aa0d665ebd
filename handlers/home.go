package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"portico/views"
)

// home is the invitation form for signed-in employees and the landing page for everyone else.
func (s *Server) home(c echo.Context) error {
	if currentUser(c) != nil {
		return s.showInviteForm(c)
	}
	p, err := s.flashPage(c, "Invite partners")
	if err != nil {
		return err
	}
	m := views.Landing{Page: p}
	if s.Config.Demo {
		m.DemoAccounts = s.DemoAccounts
		m.DemoOutboxURL = s.DemoOutboxURL
	}
	return render(c, http.StatusOK, views.LandingPage(m))
}

// welcome is the public page partners land on after accepting, unless the inviter chose another.
func (s *Server) welcome(c echo.Context) error {
	m := views.Welcome{Page: s.partnerPage(c, "Welcome")}
	for _, l := range s.Config.WelcomeLinks {
		m.Links = append(m.Links, views.Link{Label: l.Label, URL: l.URL})
	}
	return render(c, http.StatusOK, views.WelcomePage(m))
}
