import { NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { atLeast, signOut, useAuth } from '../auth';
import { theme } from '../theme';
import { useWorkspace } from '../workspace';
import { LiveContext, useLiveEvents } from '../live';
import { ErrorBox } from './ErrorText';

export function Layout() {
  const { user, workspaces } = useAuth();
  const { wid, ws } = useWorkspace();
  const nav = useNavigate();
  const loc = useLocation();
  const qc = useQueryClient();
  const live = useLiveEvents(ws ? wid : 0);
  const [logoutError, setLogoutError] = useState<unknown>(null);

  if (!ws) {
    return (
      <main className="narrow">
        <h1>Workspace not found</h1>
        <p>You are not a member of workspace {String(wid)}. <a href="/">Open your first workspace</a>.</p>
      </main>
    );
  }
  const switchTo = (id: string) => {
    const rest = loc.pathname.split('/').slice(3).join('/') || 'calendar';
    nav(`/w/${id}/${rest.startsWith('compose/') ? 'compose' : rest}`);
  };
  const logout = async () => {
    try {
      await signOut();
      qc.clear();
      qc.setQueryData(['session'], null);
      nav('/login');
    } catch (e) {
      setLogoutError(e);
    }
  };
  const links: [string, string, boolean][] = [
    ['calendar', 'Calendar', true],
    ['compose', 'Compose', atLeast(ws.role, 'editor')],
    ['inbox', 'Inbox', true],
    ['analytics', 'Analytics', true],
    ['accounts', 'Accounts', true],
    ['settings', 'Settings', true],
  ];
  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="/">
          <img src={theme.logo} alt="" width={28} height={28} />
          <span>{theme.productName}</span>
        </a>
        <label className="switcher">
          <span className="sr-only">Workspace</span>
          <select aria-label="Workspace" value={String(wid)} onChange={(e) => switchTo(e.target.value)}>
            {workspaces.map((w) => (
              <option key={w.id} value={w.id}>
                {w.name} ({w.role})
              </option>
            ))}
          </select>
        </label>
        <span className={live ? 'live on' : 'live'} title={live ? 'Live updates on' : 'Live updates connecting'}>
          {live ? '● live' : '○ offline'}
        </span>
        <span className="who">{user?.email}</span>
        <button type="button" className="link-button" onClick={logout}>
          Sign out
        </button>
      </header>
      {logoutError ? <ErrorBox error={logoutError} title="Sign out failed" /> : null}
      <nav className="tabs" aria-label="Main">
        {links
          .filter(([, , show]) => show)
          .map(([to, label]) => (
            <NavLink key={to} to={`/w/${wid}/${to}`}>
              {label}
            </NavLink>
          ))}
      </nav>
      <main className="content">
        <LiveContext.Provider value={live}>
          <Outlet />
        </LiveContext.Provider>
      </main>
    </div>
  );
}
