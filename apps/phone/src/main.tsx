import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import confab from '@confab/sdk';
import { App } from './App.js';
import './styles.css';

declare global {
  interface Window {
    /** The SDK instance the page uses, for e2e tests and the console. */
    confabPhone: typeof confab;
  }
}

window.confabPhone = confab;

const root = document.getElementById('root');
if (root === null) {
  throw new Error('#root is missing from index.html');
}
createRoot(root).render(
  <StrictMode>
    <App confab={confab} />
  </StrictMode>,
);
