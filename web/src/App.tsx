import { lazy, Suspense, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { AuthProvider, useAuth } from './auth';
import { Layout } from './components/Layout';
import { LoginPage, RegisterPage } from './pages/Login';
import { ErrorBox } from './components/ErrorText';
import { ApiError } from './api/errors';

// Heavy pages load on demand: the first page stays small.
const CalendarPage = lazy(() => import('./pages/Calendar'));
const ComposerPage = lazy(() => import('./pages/Composer'));
const InboxPage = lazy(() => import('./pages/Inbox'));
const AnalyticsPage = lazy(() => import('./pages/Analytics'));
const AccountsPage = lazy(() => import('./pages/Accounts'));
const OAuthCallbackPage = lazy(() => import('./pages/OAuthCallback'));
const SettingsPage = lazy(() => import('./pages/Settings'));

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 2,
        refetchOnWindowFocus: false,
      },
    },
  });
}

function RequireSession({ children }: { children: ReactNode }) {
  const { user, loading, error } = useAuth();
  const loc = useLocation();
  if (loading) return <p className="loading">Loading…</p>;
  if (error && user === undefined) return <main className="narrow"><ErrorBox error={error} title="Could not check your session" /></main>;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent(loc.pathname + loc.search)}`} replace />;
  return <>{children}</>;
}

function Home() {
  const { workspaces } = useAuth();
  if (!workspaces.length) return <main className="narrow"><p>You are not a member of any workspace yet.</p></main>;
  return <Navigate to={`/w/${workspaces[0].id}/calendar`} replace />;
}

const page = (el: ReactNode) => <Suspense fallback={<p className="loading">Loading…</p>}>{el}</Suspense>;

export function App({ client = makeQueryClient() }: { client?: QueryClient }) {
  return (
    <QueryClientProvider client={client}>
      <BrowserRouter>
        <AuthProvider>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="/register" element={<RegisterPage />} />
            <Route path="/oauth/:platform/return" element={<RequireSession>{page(<OAuthCallbackPage />)}</RequireSession>} />
            <Route path="/" element={<RequireSession><Home /></RequireSession>} />
            <Route path="/w/:wid" element={<RequireSession><Layout /></RequireSession>}>
              <Route index element={<Navigate to="calendar" replace />} />
              <Route path="calendar" element={page(<CalendarPage />)} />
              <Route path="compose" element={page(<ComposerPage />)} />
              <Route path="compose/:pid" element={page(<ComposerPage />)} />
              <Route path="inbox" element={page(<InboxPage />)} />
              <Route path="analytics" element={page(<AnalyticsPage />)} />
              <Route path="accounts" element={page(<AccountsPage />)} />
              <Route path="settings" element={page(<SettingsPage />)} />
            </Route>
            <Route path="*" element={<main className="narrow"><h1>Not found</h1><p>No page here. <a href="/">Go to the calendar</a>.</p></main>} />
          </Routes>
        </AuthProvider>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
