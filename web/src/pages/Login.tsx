import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { signIn, useAuth } from '../auth';
import { api } from '../api/client';
import { unwrap } from '../api/errors';
import { ErrorBox, FieldError } from '../components/ErrorText';
import { theme } from '../theme';

function Brand() {
  return (
    <div className="auth-brand">
      <img src={theme.logo} alt="" width={40} height={40} />
      <div>
        <div className="brand-name">{theme.productName}</div>
        <div className="muted">{theme.tagline}</div>
      </div>
    </div>
  );
}

function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function LoginPage() {
  const { user } = useAuth();
  const [params] = useSearchParams();
  const nav = useNavigate();
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const { register, handleSubmit, formState } = useForm<{ email: string; password: string }>();
  if (user) return <Navigate to={safeNext(params.get('next'))} replace />;
  const onSubmit = handleSubmit(async ({ email, password }) => {
    setError(null);
    try {
      const u = await signIn(email, password);
      qc.setQueryData(['session'], u);
      await qc.invalidateQueries({ queryKey: ['me'] });
      nav(safeNext(params.get('next')), { replace: true });
    } catch (e) {
      setError(e);
    }
  });
  return (
    <main className="narrow auth">
      <Brand />
      <h1>Sign in</h1>
      <form onSubmit={onSubmit} noValidate>
        <label>
          Email
          <input type="email" autoComplete="username" {...register('email', { required: true })} />
        </label>
        <FieldError error={error} field="email" />
        <label>
          Password
          <input type="password" autoComplete="current-password" {...register('password', { required: true })} />
        </label>
        <FieldError error={error} field="password" />
        <ErrorBox error={error} shownFields={['email', 'password']} />
        <button type="submit" className="primary" disabled={formState.isSubmitting}>
          {formState.isSubmitting ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p>
        New here? <Link to="/register">Create an account</Link>
      </p>
    </main>
  );
}

interface RegisterForm {
  name: string;
  email: string;
  password: string;
  workspace_name: string;
  timezone: string;
}

export function RegisterPage() {
  const nav = useNavigate();
  const qc = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const guess = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const { register, handleSubmit, formState } = useForm<RegisterForm>({ defaultValues: { timezone: guess } });
  const onSubmit = handleSubmit(async (v) => {
    setError(null);
    try {
      await unwrap(api.POST('/api/v1/auth/register', { body: v }));
      const u = await signIn(v.email, v.password);
      qc.setQueryData(['session'], u);
      await qc.invalidateQueries({ queryKey: ['me'] });
      nav('/', { replace: true });
    } catch (e) {
      setError(e);
    }
  });
  const fields: [keyof RegisterForm, string, string, string][] = [
    ['name', 'Your name', 'text', 'name'],
    ['email', 'Email', 'email', 'username'],
    ['password', 'Password', 'password', 'new-password'],
    ['workspace_name', 'Workspace name', 'text', 'organization'],
    ['timezone', 'Time zone (IANA, e.g. Europe/Paris)', 'text', 'off'],
  ];
  return (
    <main className="narrow auth">
      <Brand />
      <h1>Create an account</h1>
      <form onSubmit={onSubmit} noValidate>
        {fields.map(([name, label, type, ac]) => (
          <div key={name}>
            <label>
              {label}
              <input type={type} autoComplete={ac} {...register(name)} />
            </label>
            <FieldError error={error} field={name} />
          </div>
        ))}
        <ErrorBox error={error} shownFields={fields.map((f) => f[0])} />
        <button type="submit" className="primary" disabled={formState.isSubmitting}>
          {formState.isSubmitting ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <p>
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </main>
  );
}
